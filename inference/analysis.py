"""One ``Analysis`` per track: decode -> log-mel patches -> encoder + heads -> genres, tags,
descriptors and an embedding.

Long tracks are analysed within a bounded cost: up to ``max_full_s`` every 3-second patch is
used; past that, ``sample_windows`` evenly spaced windows that together last ``max_full_s``
(the result's ``coverage`` says so).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from inference.audio import AudioLimits, decode
from inference.describe import describe
from inference.frontend import (
    HOP,
    PATCH_FRAMES,
    SAMPLE_RATE,
    log_compress,
    mel_from_power,
    stft_power,
    to_patches,
)
from inference.genres import GENRES, GenreDetectors, GenreModel
from inference.models import MODELS_DIR, ModelSet, get_models
from inference.musicness import assess
from inference.result import Analysis, Coverage, Segment
from inference.tags import group_tags

GENRE_DETECTORS_FILE = "genre_detectors.npz"
SEGMENT_MIN_SHARE = 0.005  # timeline entries below this are dropped (keeps the JSON readable)


@dataclass(frozen=True)
class AnalysisOptions:
    limits: AudioLimits = AudioLimits()
    max_full_s: float = 300.0  # analyse every patch of tracks up to 5 min
    sample_windows: int = 10  # longer tracks: this many evenly spaced windows


def model_version(models_dir: Path = MODELS_DIR) -> str:
    """A short content hash of every file that shapes the numbers."""
    digest = hashlib.sha256()
    for name in ("musicnn_msd_encoder.onnx", "msd_head.onnx", "mtt_head.onnx", GENRE_DETECTORS_FILE):
        digest.update((models_dir / name).read_bytes())
    return "musicnn-msd-" + digest.hexdigest()[:10]


def content_hash(source: str | os.PathLike | bytes) -> str:
    digest = hashlib.sha256()
    if isinstance(source, bytes | bytearray | memoryview):
        digest.update(source)
    else:
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def analysis_windows(n_samples: int, opts: AnalysisOptions) -> list[tuple[int, int]]:
    """(start, end) sample ranges to analyse: the whole track, or evenly spaced windows."""
    full = int(opts.max_full_s * SAMPLE_RATE)
    if n_samples <= full:
        return [(0, n_samples)]
    window = full // opts.sample_windows
    starts = np.linspace(0, n_samples - window, opts.sample_windows).astype(int)
    return [(int(s), int(s) + window) for s in starts]


class Analyzer:
    """Holds the models; ``analyze`` is what each pool worker runs."""

    def __init__(self, models: ModelSet, detectors: GenreDetectors | None, version: str) -> None:
        self.models = models
        self.genre_model = GenreModel(models.msd_labels, models.mtt_labels, detectors)
        self.version = version

    @classmethod
    def load(cls, models_dir: Path = MODELS_DIR, threads: int | None = None) -> Analyzer:
        models = get_models(threads) if models_dir == MODELS_DIR else ModelSet(models_dir, threads or 1)
        det_path = models_dir / GENRE_DETECTORS_FILE
        detectors = GenreDetectors.load(det_path) if det_path.is_file() else None
        return cls(models, detectors, model_version(models_dir))

    def analyze(
        self, source: str | os.PathLike | bytes, title: str = "", opts: AnalysisOptions = AnalysisOptions(), digest: str | None = None
    ) -> Analysis:
        """``digest``: the source's sha256 when the caller already computed it (saves a re-read)."""
        t0 = time.perf_counter()
        samples, _info = decode(source, opts.limits)
        timings = {"decode": _ms(t0)}
        analysis = self.analyze_samples(samples, opts, timings)
        return replace(analysis, content_hash=digest or content_hash(source), title=title or _default_title(source))

    def analyze_samples(self, samples: np.ndarray, opts: AnalysisOptions = AnalysisOptions(), timings: dict | None = None) -> Analysis:
        """Mono 16 kHz float32 ``samples`` [n] -> Analysis (no hash or title)."""
        timings = dict(timings or {})
        duration = samples.size / SAMPLE_RATE
        windows = analysis_windows(samples.size, opts)

        t = time.perf_counter()
        powers, logmels, patch_starts = [], [], []
        for start, end in windows:
            power = stft_power(samples[start:end])
            logmel = log_compress(mel_from_power(power))
            powers.append(power)
            logmels.append(logmel)
            n = max(1, logmel.shape[0] // PATCH_FRAMES)
            patch_starts += [start / SAMPLE_RATE + i * PATCH_FRAMES * HOP / SAMPLE_RATE for i in range(n)]
        patches = np.concatenate([_patches_of(m) for m in logmels])
        timings["frontend"] = _ms(t)

        t = time.perf_counter()
        excerpt = samples if len(windows) == 1 else np.concatenate([samples[s:e] for s, e in windows])
        power_all = powers[0] if len(powers) == 1 else np.concatenate(powers)
        descriptors = replace(describe(excerpt, power_all), duration_s=round(duration, 3))
        logmel_all = logmels[0] if len(logmels) == 1 else np.concatenate(logmels)
        musicness = assess(excerpt, power_all, logmel_all)
        timings["descriptors"] = _ms(t)

        t = time.perf_counter()
        embedding, _mean_pool, _max_pool = self.models.encode(patches)
        timings["encoder"] = _ms(t)

        t = time.perf_counter()
        msd, mtt = self.models.tags(embedding)
        shares = self.genre_model.shares(msd, mtt, embedding)
        tags = group_tags(msd.mean(0), mtt.mean(0), self.models.msd_labels, self.models.mtt_labels)
        timings["heads"] = _ms(t)

        patch_s = PATCH_FRAMES * HOP / SAMPLE_RATE
        coverage = Coverage(
            duration_s=round(duration, 3),
            analysed_s=round(min(duration, len(patches) * patch_s), 3),
            segments=len(patches),
            sampled=len(windows) > 1,
        )
        is_music = musicness.is_music
        timeline = (
            [
                Segment(round(s, 3), round(min(s + patch_s, duration), 3), _shares_dict(row, SEGMENT_MIN_SHARE))
                for s, row in zip(patch_starts, shares, strict=True)
            ]
            if is_music
            else []
        )
        timings["total"] = round(sum(timings.values()), 2)
        return Analysis(
            model_version=self.version,
            embedding=_track_embedding(embedding),
            genres=_shares_dict(shares.mean(0), 0.0) if is_music else {},
            timeline=timeline,
            tags=tags,
            descriptors=descriptors,
            coverage=coverage,
            is_music=is_music,
            not_music_reason=musicness.reason,
            music_confidence=round(musicness.confidence, 3),
            timings_ms=timings,
        )


def _patches_of(logmel: np.ndarray) -> np.ndarray:
    """Non-overlapping patches; a clip shorter than one patch is repeat-padded (as in training)."""
    if logmel.shape[0] >= PATCH_FRAMES:
        return to_patches(logmel)
    reps = -(-PATCH_FRAMES // max(1, logmel.shape[0]))
    return np.tile(logmel, (reps, 1))[None, :PATCH_FRAMES]


def _track_embedding(patch_embeddings: np.ndarray) -> np.ndarray:
    """Mean of the unit patch embeddings, renormalised: the similarity space for recommendations."""
    unit = patch_embeddings / np.maximum(np.linalg.norm(patch_embeddings, axis=1, keepdims=True), 1e-9)
    mean = unit.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)


def _shares_dict(row: np.ndarray, min_share: float) -> dict[str, float]:
    order = np.argsort(-row)
    return {GENRES[i]: round(float(row[i]), 4) for i in order if row[i] >= min_share}


def _default_title(source: str | os.PathLike | bytes) -> str:
    return "" if isinstance(source, bytes | bytearray | memoryview) else Path(source).stem


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


# Per-process analyzer for pool workers (loaded once by ``init_worker``).
_ANALYZER: Analyzer | None = None


def init_worker(threads: int | None = None) -> None:
    """Pool initializer: load the ONNX sessions once per worker process."""
    global _ANALYZER
    if threads is None:
        from inference.pool import worker_threads

        threads = worker_threads()
    _ANALYZER = Analyzer.load(threads=threads)


def get_analyzer() -> Analyzer:
    if _ANALYZER is None:
        init_worker()
    assert _ANALYZER is not None
    return _ANALYZER


def analyze_job(source: str | bytes, title: str = "", opts: AnalysisOptions = AnalysisOptions(), digest: str | None = None) -> Analysis:
    """The function the pool runs: module-level so it pickles."""
    return get_analyzer().analyze(source, title, opts, digest)
