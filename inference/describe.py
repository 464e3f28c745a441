"""Tempo, key, loudness and brightness of a track: its ``Descriptors``.

``describe(samples, power)`` receives the 16 kHz mono samples and the power spectrogram the models
already need (``inference.frontend.stft_power``: [frames, 257], n_fft 512, hop 256).

- tempo (``inference.tempo``): from the onset strength of ``power``; with a confidence and, where
  the half or double tempo is nearly as likely, that alternative.
- key (``inference.key``): from its own pitch-resolving chroma of ``samples`` (``power``'s 31 Hz
  bins cannot tell semitones apart in the bass); with a calibrated confidence.
- loudness: RMS in dBFS (a full-scale square wave is 0 dB, a full-scale sine -3 dB).
- brightness: the magnitude spectrum's centroid, averaged over frames weighted by energy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from inference.frontend import N_FFT, SAMPLE_RATE
from inference.key import estimate_key
from inference.keys import PITCH_CLASSES as PITCH_NAMES
from inference.result import Descriptors
from inference.tempo import NO_TEMPO, estimate_tempo

# Part of the model version: bump it when an estimator's answers change, so `earworm reindex`
# re-describes stored tracks (2: pitch-resolving key with calibrated confidence, tempo alternative).
DESCRIPTORS_VERSION = 2
SILENCE_DB = -80.0  # quieter than this overall: nothing to describe
# Brightness reads at most this many evenly spaced frames (~32 s worth): plenty for a
# whole-track property, and it bounds the cost for long tracks.
SUMMARY_MAX_FRAMES = 2000


def describe(samples: np.ndarray, power: np.ndarray) -> Descriptors:
    """Descriptors of mono 16 kHz ``samples`` [n] whose power spectrogram is ``power`` [frames, 257].

    Tempo and key are None (confidence 0) for silence and for input without a steady beat or a
    tonal centre (noise, most speech).
    """
    x = np.asarray(samples, dtype=np.float32)
    p = np.asarray(power, dtype=np.float32)
    loudness = loudness_db(x)
    silent = loudness < SILENCE_DB or p.shape[0] == 0
    tempo = NO_TEMPO if silent else estimate_tempo(p)
    key = None if silent else estimate_key(x)
    found = key.key if key is not None else None
    return Descriptors(
        tempo_bpm=tempo.bpm,
        tempo_confidence=tempo.confidence,
        tempo_alternative_bpm=tempo.alternative_bpm,
        key=None if found is None else PITCH_NAMES[found.tonic],
        mode=None if found is None else found.mode,
        key_confidence=0.0 if key is None or found is None else key.confidence,
        loudness_db=loudness,
        brightness_hz=0.0 if silent else brightness_hz(p),
        duration_s=x.size / SAMPLE_RATE,
    )


# ---------------------------------------------------------------------------------------------
# Loudness and brightness


def loudness_db(samples: np.ndarray) -> float:
    """RMS level of ``samples`` [n] in dBFS, floored at -120 dB."""
    if samples.size == 0:
        return -120.0
    x = samples.astype(np.float32, copy=False)
    # einsum: one pass, no temporary, and no BLAS threads (which thrash on a busy machine).
    mean_square = float(np.einsum("i,i->", x, x, dtype=np.float64)) / x.size
    return max(-120.0, 10.0 * np.log10(mean_square + 1e-12))


def brightness_hz(power: np.ndarray) -> float:
    """Mean spectral centroid, [frames, 257] -> Hz (0 for silence).

    Per frame, the centroid of the magnitude spectrum (as librosa's spectral_centroid; the power
    spectrum's centroid is dragged down to the bass); frames are averaged with their energy as
    weight, so silences and fades do not count. DC is ignored. Long tracks use evenly spaced
    frames (SUMMARY_MAX_FRAMES).
    """
    p = _evenly_spaced(power)[:, 1:]
    energy = p.sum(axis=1)
    total = float(energy.sum())
    if total <= 0:
        return 0.0
    mag = np.sqrt(p)
    mag_sum = mag.sum(axis=1)
    centroid = (mag * _bin_freqs()[1:]).sum(axis=1) / np.maximum(mag_sum, 1e-20)
    return float(np.dot(energy, centroid) / total)


def _evenly_spaced(power: np.ndarray) -> np.ndarray:
    """At most SUMMARY_MAX_FRAMES frames of ``power``, evenly spaced (a strided view)."""
    return power[:: max(1, -(-power.shape[0] // SUMMARY_MAX_FRAMES))]  # ceil division


@lru_cache(maxsize=1)
def _bin_freqs() -> np.ndarray:
    return np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
