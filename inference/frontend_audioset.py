"""Log-mel front end in numpy for the AudioSet model (EfficientAT mn04), at 32 kHz.

The recipe the model was trained with (../shared/models/README.md, as numbers): mono 32 kHz;
pre-emphasis ``y[n] = x[n+1] - 0.97 x[n]``; STFT with n_fft 1024, an 800-sample *symmetric*
Hann window centred inside the 1024 frame, hop 320, centred frames with reflect padding of 512;
power ``|X|^2``; the model's Kaldi-style mel basis (128 x 513, 0 to 15 kHz, shipped as
``models/efficientat_mel_basis.npy``); ``log(mel + 1e-5)``; then ``(x + 4.5) / 5``. 100 frames
per second. The FFT runs in float32 (numpy >= 2 keeps the dtype) in blocks of frames, so memory
stays small on long tracks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 32000
N_FFT = 1024
WIN_LENGTH = 800
HOP = 320
N_MELS = 128
PREEMPHASIS = 0.97
MEL_BASIS_FILE = "efficientat_mel_basis.npy"
_BLOCK_FRAMES = 1024


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """torch.hann_window(800, periodic=False) zero-padded to 1024, centred (as torch.stft does)."""
    n = np.arange(WIN_LENGTH)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / (WIN_LENGTH - 1))
    left = (N_FFT - WIN_LENGTH) // 2
    out = np.zeros(N_FFT, np.float32)
    out[left : left + WIN_LENGTH] = hann
    return out


@lru_cache(maxsize=2)
def mel_basis(models_dir: Path) -> np.ndarray:
    """[128, 513] float32, the filters the model was trained with."""
    basis = np.load(models_dir / MEL_BASIS_FILE).astype(np.float32)
    if basis.shape != (N_MELS, N_FFT // 2 + 1):
        raise ValueError(f"{MEL_BASIS_FILE}: expected shape (128, 513), got {basis.shape}")
    return np.ascontiguousarray(basis.T)  # [513, 128] for power @ basis


def log_mel(samples: np.ndarray, models_dir: Path) -> np.ndarray:
    """Mono 32 kHz float32 ``samples`` [n] -> normalised log-mel [frames, 128] float32."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples [n], got shape {x.shape}")
    if x.size < 2:
        return np.zeros((0, N_MELS), np.float32)
    y = x[1:] - np.float32(PREEMPHASIS) * x[:-1]
    pad = N_FFT // 2
    y = np.pad(y, pad, mode="reflect" if y.size > pad else "constant")
    frames_n = 1 + (y.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(frames_n, N_FFT), strides=(y.strides[0] * HOP, y.strides[0]), writeable=False
    )
    basis = mel_basis(models_dir)
    window = _window()
    out = np.empty((frames_n, N_MELS), np.float32)
    for start in range(0, frames_n, _BLOCK_FRAMES):
        spec = np.fft.rfft(frames[start : start + _BLOCK_FRAMES] * window, axis=1)
        power = np.square(spec.real)
        power += np.square(spec.imag)
        out[start : start + _BLOCK_FRAMES] = power @ basis
    np.log(out + np.float32(1e-5), out=out)
    out += np.float32(4.5)
    out /= np.float32(5.0)
    return out
