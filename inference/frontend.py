"""Log-mel front end in numpy, matching the musicnn models' training pipeline.

Training used librosa: power mel spectrogram with n_fft=512, hop=256, 96 Slaney mel bands from
0 to 8 kHz, periodic Hann window, centred frames with reflect padding, then
``log10(10000 * mel + 1)``. The log is taken in float32 (the original float16 path overflows to
inf on loud audio). Patches are 187 frames (3 s) with no overlap; the remainder is dropped.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
PATCH_SECONDS = PATCH_FRAMES * HOP / SAMPLE_RATE  # 2.992 s
STFT_BLOCK_FRAMES = 1024


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mel = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Slaney-normalised triangular filters, shape [N_MELS, N_FFT // 2 + 1], float32."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2)
    hz_pts = _mel_to_hz(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)  # periodic


def stft_power(samples: np.ndarray) -> np.ndarray:
    """Power spectrogram of mono float32 16 kHz ``samples`` [n] -> [frames, N_FFT//2 + 1].

    Frames are centred (reflect padding of N_FFT//2), so frames = 1 + n // HOP.
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples [n], got shape {x.shape}")
    pad = N_FFT // 2
    mode = "reflect" if x.size > pad else "constant"
    x = np.pad(x, pad, mode=mode)
    n_frames = 1 + (x.size - N_FFT) // HOP
    if n_frames <= 0:
        return np.zeros((0, N_FFT // 2 + 1), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, N_FFT), strides=(x.strides[0] * HOP, x.strides[0]), writeable=False
    )
    out = np.empty((n_frames, N_FFT // 2 + 1), dtype=np.float32)
    # Blocks of frames keep the temporaries small (cache-friendly, bounded memory on long tracks).
    for start in range(0, n_frames, STFT_BLOCK_FRAMES):
        spec = np.fft.rfft(frames[start : start + STFT_BLOCK_FRAMES] * _hann(), axis=1)
        np.square(spec.real, out=out[start : start + STFT_BLOCK_FRAMES])
        out[start : start + STFT_BLOCK_FRAMES] += np.square(spec.imag)
    return out


def mel_from_power(power: np.ndarray) -> np.ndarray:
    """[frames, 257] power -> [frames, 96] mel power."""
    return power @ mel_filterbank().T


def log_compress(mel: np.ndarray) -> np.ndarray:
    """``log10(10000 * mel + 1)`` in float32 (never overflows, unlike the float16 original)."""
    return np.log10(np.float32(10000.0) * mel.astype(np.float32) + np.float32(1.0)).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Mono 16 kHz samples [n] -> log-mel [frames, 96] float32."""
    return log_compress(mel_from_power(stft_power(samples)))


def to_patches(logmel: np.ndarray, patch_frames: int = PATCH_FRAMES) -> np.ndarray:
    """[frames, 96] -> [n_patches, patch_frames, 96], non-overlapping, remainder dropped."""
    n = logmel.shape[0] // patch_frames
    return np.ascontiguousarray(logmel[: n * patch_frames].reshape(n, patch_frames, logmel.shape[1]))
