""""This doesn't sound like music": silence, speech and noise, from cheap spectrogram statistics.

Three checks, in order, with thresholds set on the devset (54 real music clips, none flagged), the
bundled speech and bird-call recordings, and generated white and brown noise:

- silence: the loudest 100 ms stays below -55 dBFS.
- noise: a flat spectrum (spectral flatness above 0.3: white noise) or a spectrum that hardly
  changes over time (mean over bands of the std of 0.25-s band energies below 0.12; music is at
  0.2 and up, stationary hiss and rumble at 0.05 to 0.09).
- speech (and other sparse non-music such as a bird call): many low-energy frames. The share of
  frames quieter than half the mean RMS of their 1-s window (Scheirer & Slaney's speech/music
  feature) is 0.37 for speech, 0.39 for the bird call and at most 0.25 for music here. Bright,
  sparse sounds (centroid above 2.5 kHz) are reported as noise rather than speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.frontend import HOP, N_FFT, SAMPLE_RATE

SILENCE_DBFS = -55.0
FLATNESS_NOISE = 0.3
STATIONARY_NOISE = 0.12
LOW_ENERGY_SPEECH = 0.30
SPEECH_MAX_CENTROID_HZ = 2500.0
FRAMES_PER_S = SAMPLE_RATE // HOP  # 62


@dataclass(frozen=True)
class Musicness:
    is_music: bool
    reason: str | None  # "silence" | "speech" | "noise"
    confidence: float  # how sure we are that it IS music, 0..1
    low_energy_ratio: float
    flatness: float
    variation: float


def _low_energy_ratio(frame_rms: np.ndarray) -> float:
    n = len(frame_rms) // FRAMES_PER_S * FRAMES_PER_S
    if n == 0:
        windows = frame_rms[None, :]
    else:
        windows = frame_rms[:n].reshape(-1, FRAMES_PER_S)
    return float(np.mean(windows < 0.5 * windows.mean(axis=1, keepdims=True)))


def _peak_dbfs(samples: np.ndarray) -> float:
    """Loudest 100 ms RMS in dBFS."""
    block = SAMPLE_RATE // 10
    n = max(1, len(samples) // block)
    trimmed = samples[: n * block] if len(samples) >= block else np.pad(samples, (0, block - len(samples)))
    rms = np.sqrt(np.mean(trimmed.reshape(n, -1) ** 2, axis=1))
    return float(20 * np.log10(max(float(rms.max()), 1e-10)))


def assess(samples: np.ndarray, power: np.ndarray, logmel: np.ndarray) -> Musicness:
    """samples [n] 16 kHz, power [frames, 257], logmel [frames, 96] -> Musicness."""
    if _peak_dbfs(samples) < SILENCE_DBFS or len(power) == 0:
        return Musicness(False, "silence", 0.0, 0.0, 0.0, 0.0)
    energy = power.sum(axis=1) + 1e-12
    active = 10 * np.log10(energy) > 10 * np.log10(energy.max()) - 40
    band = power[:, 4:] + 1e-10
    flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    flatness = float(np.median(flat[active]))
    k = FRAMES_PER_S // 4
    m = len(logmel) // k * k
    smoothed = logmel[:m].reshape(-1, k, logmel.shape[1]).mean(axis=1) if m else logmel
    variation = float(smoothed.std(axis=0).mean()) if len(smoothed) > 1 else 0.0
    ler = _low_energy_ratio(np.sqrt(energy))
    centroid = float(np.median(((power * np.arange(power.shape[1])).sum(1) / energy)[active]) * SAMPLE_RATE / N_FFT)

    if flatness > FLATNESS_NOISE or variation < STATIONARY_NOISE:
        reason: str | None = "noise"
    elif ler > LOW_ENERGY_SPEECH:
        reason = "speech" if centroid < SPEECH_MAX_CENTROID_HZ else "noise"
    else:
        reason = None
    # A soft margin to the nearest threshold, for display ("how sure").
    margins = [
        (FLATNESS_NOISE - flatness) / FLATNESS_NOISE,
        (variation - STATIONARY_NOISE) / STATIONARY_NOISE,
        (LOW_ENERGY_SPEECH - ler) / LOW_ENERGY_SPEECH,
    ]
    confidence = float(np.clip(0.5 + 0.5 * min(margins), 0.0, 1.0))
    return Musicness(reason is None, reason, confidence, ler, flatness, variation)
