"""Per-patch model outputs: both encoders on the same 3-second stretches of a track.

A track is decoded once at 32 kHz (the AudioSet model's rate) and resampled to 16 kHz for
musicnn. Each analyzed window is cut into non-overlapping 187-frame musicnn patches (2.992 s);
the AudioSet model sees the same stretch as 299 frames of its own front end. Patches that the
silence gate marks (``gate``: the analysis passes one built on ``inference.musicness.voting_patches``)
are not run through the models: they do not vote, and skipping them makes leading silence cheap.

The models hear every track at the same loudness (:func:`model_gain`): both are level-sensitive
(turned down 12 dB, the jazz fixture read electronic 28 % / classical 26 %, against electronic 48 %
as it is), so a quiet master or a normalising upload read as other music. Patch levels, the
silence gate and the descriptors see the audio as it is (tests/bench/bench_loudness.py).

``models/extract_features.py`` calls :func:`patch_features` on every training clip, so the heads
are trained on exactly what the runtime computes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from inference import frontend_audioset as fa
from inference.frontend import (
    HOP,
    PATCH_FRAMES,
    SAMPLE_RATE,
    log_compress,
    mel_from_power,
    stft_power,
    to_patches,
)
from inference.models import AUDIOSET_TAPS, ModelSet
from inference.musicness import voting_patches

RATE_32K = fa.SAMPLE_RATE
PATCH_SAMPLES = PATCH_FRAMES * HOP  # at 16 kHz
PATCH_S = PATCH_SAMPLES / SAMPLE_RATE  # 2.992 s
AUDIOSET_PATCH_FRAMES = 299  # 2.99 s of the 100 frames/s AudioSet front end
LEVEL_FLOOR_DB = -120.0
# The loudness the models hear: the median of the training clips' loudness (models/MODEL_CARD.md).
MODEL_LOUDNESS_DB = -16.0
MODEL_GAIN_DB = (-20.0, 40.0)  # the most a track is turned down or up


@dataclass(frozen=True)
class PatchFeatures:
    """Row i describes patch i. Model outputs are zero rows for patches that were not run."""

    start_s: np.ndarray  # [N] float64, patch start in the track
    level_db: np.ndarray  # [N] RMS level of the patch, dBFS
    ran: np.ndarray  # [N] bool, the models ran on this patch
    musicnn: np.ndarray  # [N, 200] embedding
    mean_pool: np.ndarray  # [N, 753] musicnn back end's mean-pooled features
    max_pool: np.ndarray  # [N, 753] musicnn back end's max-pooled features
    msd: np.ndarray  # [N, 50] MSD tag probabilities
    mtt: np.ndarray  # [N, 50] MTT tag probabilities (distilled)
    audioset: np.ndarray  # [N, 527] AudioSet class probabilities
    audioset_emb: np.ndarray  # [N, 384] EfficientAT embedding
    audioset_taps: np.ndarray  # [N, 320] EfficientAT inner blocks' pooled features

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass(frozen=True)
class WindowAudio:
    """What the descriptors need from the analyzed windows (16 kHz)."""

    samples: np.ndarray  # [n] the windows' 16 kHz samples, concatenated
    power: np.ndarray  # [frames, 257] their power spectrogram, concatenated


def to_16k(samples_32k: np.ndarray) -> np.ndarray:
    """32 kHz -> 16 kHz for musicnn and the descriptors (soxr HQ, as the decoder uses)."""
    return soxr.resample(samples_32k, RATE_32K, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)


def patch_levels_db(x16: np.ndarray, n_patches: int) -> np.ndarray:
    """RMS level in dBFS of each patch of a window ([n] 16 kHz); a short window is one patch."""
    if n_patches == 1 and x16.size < PATCH_SAMPLES:
        blocks = [x16]
    else:
        blocks = [x16[i * PATCH_SAMPLES : (i + 1) * PATCH_SAMPLES] for i in range(n_patches)]
    rms = np.array([np.sqrt(np.mean(np.square(b, dtype=np.float64))) if b.size else 0.0 for b in blocks])
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), LEVEL_FLOOR_DB)


def loudness_db(level_db: np.ndarray) -> float | None:
    """The track's loudness: the RMS level of its voting patches (None when all are silent)."""
    vote = voting_patches(level_db)
    if not vote.any():
        return None
    return float(10 * np.log10(np.mean(10 ** (np.asarray(level_db, np.float64)[vote] / 10))))


def model_gain(level_db: np.ndarray) -> float:
    """The amplitude factor that brings the track to ``MODEL_LOUDNESS_DB`` (1 for silence)."""
    loud = loudness_db(level_db)
    if loud is None:
        return 1.0
    return float(10 ** (np.clip(MODEL_LOUDNESS_DB - loud, *MODEL_GAIN_DB) / 20))


def _patch_count(n_samples: int) -> int:
    """How many musicnn patches a window of ``n_samples`` gives (centred frames: 1 + n // HOP)."""
    return max(1, (1 + n_samples // HOP) // PATCH_FRAMES)


def _musicnn_patches(logmel: np.ndarray) -> np.ndarray:
    """Non-overlapping patches; a clip shorter than one patch is repeat-padded (as in training)."""
    if logmel.shape[0] >= PATCH_FRAMES:
        return to_patches(logmel)
    reps = -(-PATCH_FRAMES // max(1, logmel.shape[0]))
    return np.tile(logmel, (reps, 1))[None, :PATCH_FRAMES]


def _audioset_patches(mel: np.ndarray, n: int) -> list[np.ndarray]:
    """The AudioSet front end's frames for the same stretches as the n musicnn patches."""
    if n == 1 and mel.shape[0] < AUDIOSET_PATCH_FRAMES:
        return [mel]  # a clip shorter than a patch: the model takes any length
    out = []
    per_patch = PATCH_SAMPLES * 2 / fa.HOP  # 299.2 frames
    for i in range(n):
        start = int(round(i * per_patch))
        seg = mel[start : start + AUDIOSET_PATCH_FRAMES]
        if len(seg) < AUDIOSET_PATCH_FRAMES:
            seg = np.pad(seg, ((0, AUDIOSET_PATCH_FRAMES - len(seg)), (0, 0)), mode="edge")
        out.append(seg)
    return out


def patch_features(
    models: ModelSet,
    samples_32k: np.ndarray,
    samples_16k: np.ndarray,
    windows: list[tuple[int, int]],
    gate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[PatchFeatures, WindowAudio, dict[str, float]]:
    """Run both models on the patches of ``windows`` ((start, end) in 16 kHz samples).

    ``gate(level_db [N]) -> bool [N]``: patches not to run (silence); None runs every patch.
    Returns the features, the windows' 16 kHz audio and spectrogram, and stage timings (ms).
    """
    timings: dict[str, float] = {}
    t = time.perf_counter()
    levels = []
    for start, end in windows:
        x16 = samples_16k[start:end]
        levels.append(patch_levels_db(x16, _patch_count(x16.size)))
    level_db = np.concatenate(levels)
    gain = np.float32(model_gain(level_db))
    powers, x16_parts, m16, m32, starts = [], [], [], [], []
    for start, end in windows:
        x16 = samples_16k[start:end]
        power = stft_power(x16)
        # power scales with the square of the gain: the same as turning the samples up.
        patches16 = _musicnn_patches(log_compress(mel_from_power(power) * (gain * gain)))
        n = len(patches16)
        mel32 = fa.log_mel(samples_32k[2 * start : 2 * end] * gain, models.models_dir)
        powers.append(power)
        x16_parts.append(x16)
        m16.append(patches16)
        m32 += _audioset_patches(mel32, n)
        starts += [start / SAMPLE_RATE + i * PATCH_S for i in range(n)]
    patches16 = np.concatenate(m16)
    timings["frontend"] = _ms(t)

    ran = np.ones(len(patches16), bool) if gate is None else ~gate(level_db)
    idx = np.flatnonzero(ran)
    t = time.perf_counter()
    emb16, mean_pool, max_pool = models.encode(patches16[idx])
    msd, mtt = models.tags(emb16)
    timings["musicnn"] = _ms(t)
    t = time.perf_counter()
    if len(idx) and all(m32[i].shape == m32[idx[0]].shape for i in idx):
        probs, emb32, taps = models.audioset_run(np.stack([m32[i] for i in idx]))
    else:
        outs = [models.audioset_run(m32[i][None]) for i in idx] or [models.audioset_run(np.zeros((0, 1, 128), np.float32))]
        probs, emb32, taps = (np.concatenate([o[j] for o in outs]) for j in range(3))
    timings["audioset"] = _ms(t)

    def full(rows: np.ndarray, dim: int) -> np.ndarray:
        out = np.zeros((len(patches16), dim), np.float32)
        out[idx] = rows
        return out

    features = PatchFeatures(
        start_s=np.asarray(starts, np.float64),
        level_db=level_db,
        ran=ran,
        musicnn=full(emb16, 200),
        mean_pool=full(mean_pool, 753),
        max_pool=full(max_pool, 753),
        msd=full(msd, 50),
        mtt=full(mtt, 50),
        audioset=full(probs, 527),
        audioset_emb=full(emb32, 384),
        audioset_taps=full(taps, AUDIOSET_TAPS),
    )
    audio = WindowAudio(
        samples=x16_parts[0] if len(x16_parts) == 1 else np.concatenate(x16_parts),
        power=powers[0] if len(powers) == 1 else np.concatenate(powers),
    )
    return features, audio, timings


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
