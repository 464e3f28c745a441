"""One ``Analysis`` per track: decode once at 32 kHz -> patches -> both models -> heads.

musicnn (16 kHz) and the AudioSet model EfficientAT (32 kHz) see the same 3-second patches
(``inference.features``). The silence gate (``inference.musicness``) keeps silent and near-silent
patches out of every vote; the AudioSet outputs say whether it is music at all; the trained heads
(``inference.heads``, ``models/*_head.npz``) give genre shares per patch, the mood quadrant and the
similarity embedding; the tag heads give era, vocal and instrument tags; ``describe`` gives tempo
and key from the 16 kHz spectrogram.

Long tracks are analyzed within a bounded cost: up to ``max_full_s`` every patch is used; past
that, ``sample_windows`` evenly spaced windows that together last ``max_full_s`` (the result's
``coverage`` says so).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from inference import genres, musicness
from inference.audio import AudioLimits, decode
from inference.describe import DESCRIPTORS_VERSION, describe
from inference.features import (
    MODEL_GAIN_DB,
    MODEL_LOUDNESS_DB,
    PATCH_S,
    RATE_32K,
    patch_features,
    to_16k,
)
from inference.frontend import SAMPLE_RATE
from inference.frontend_audioset import MEL_BASIS_FILE
from inference.genres import GENRES, GenreModel
from inference.heads import Classifier, MoodModel, NeighbourVote, Projection, feature_matrix
from inference.models import (
    AUDIOSET_FILE,
    AUDIOSET_LABELS_FILE,
    ENCODER_FILE,
    MODELS_DIR,
    MSD_HEAD_FILE,
    MTT_HEAD_FILE,
    ModelSet,
    get_models,
)
from inference.mood import MOODS
from inference.musicness import MusicDetector, voting_patches
from inference.result import Analysis, Coverage, Segment
from inference.tags import group_tags

GENRE_HEAD_FILE = "genre_head.npz"
MOOD_HEAD_FILE = "mood_head.npz"
EMBEDDING_HEAD_FILE = "embedding_head.npz"
GENRE_NEIGHBOURS_FILE = "genre_neighbours.npz"
MOOD_NEIGHBOURS_FILE = "mood_neighbours.npz"
# The files the per-patch features come from (what the trained heads read), then every other file that shapes the
# numbers: a change to any of them is a new model version.
FEATURE_FILES = (ENCODER_FILE, MSD_HEAD_FILE, MTT_HEAD_FILE, AUDIOSET_FILE, MEL_BASIS_FILE)
VERSIONED_FILES = FEATURE_FILES + (
    AUDIOSET_LABELS_FILE, GENRE_HEAD_FILE, GENRE_NEIGHBOURS_FILE, MOOD_HEAD_FILE, MOOD_NEIGHBOURS_FILE, EMBEDDING_HEAD_FILE,
)  # fmt: skip
_NUMERIC_CONSTANTS = (
    musicness.SILENT_PATCH_DB, musicness.QUIET_BELOW_DB, musicness.MUSIC_MAX, musicness.SPEECH_MIN,
    musicness.SPEECH_MIN_PATCHES, musicness.NOISE_MIN, musicness.MUSIC_CLASSES, musicness.SPEECH_CLASSES,
    musicness.NOISE_CLASSES, genres.PUNK_MAX_PART, genres.PUNK_FROM, PATCH_S, DESCRIPTORS_VERSION,
    MODEL_LOUDNESS_DB, MODEL_GAIN_DB,
)  # fmt: skip
SEGMENT_MIN_SHARE = 0.005  # timeline entries below this are dropped (keeps the JSON readable)


@dataclass(frozen=True)
class AnalysisOptions:
    limits: AudioLimits = AudioLimits()
    # The patch budget: every patch of tracks up to 72 s (24 patches); longer tracks get 6 evenly
    # spaced 12-s windows (24 patches in all), so a 4-minute song costs what a 72-s one does.
    # tests/bench/bench_long_tracks.py measures what this costs against analyzing everything.
    max_full_s: float = 72.0
    sample_windows: int = 6


def model_version(models_dir: Path = MODELS_DIR) -> str:
    """A short content hash of every file that shapes the numbers, and of the constants in code
    that do (the silence gate, the music-or-not thresholds, the punk split, the patch size, the
    loudness the models hear, the descriptors' version)."""
    digest = hashlib.sha256()
    for name in VERSIONED_FILES:
        digest.update((models_dir / name).read_bytes())
    digest.update(repr(_NUMERIC_CONSTANTS).encode())
    return "earworm2-" + digest.hexdigest()[:10]


def features_version(models_dir: Path = MODELS_DIR) -> str:
    """A short content hash of what the per-patch features depend on: the two models' files, the
    patch length and the loudness the models hear (the training script's feature cache records it)."""
    digest = hashlib.sha256()
    for name in FEATURE_FILES:
        digest.update((models_dir / name).read_bytes())
    digest.update(repr((PATCH_S, MODEL_LOUDNESS_DB, MODEL_GAIN_DB)).encode())
    return digest.hexdigest()[:12]


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
    """(start, end) 16 kHz sample ranges to analyze: the whole track, or evenly spaced windows."""
    full = int(opts.max_full_s * SAMPLE_RATE)
    if n_samples <= full:
        return [(0, n_samples)]
    window = full // opts.sample_windows
    starts = np.linspace(0, n_samples - window, opts.sample_windows).astype(int)
    return [(int(s), int(s) + window) for s in starts]


@dataclass(frozen=True)
class Heads:
    genre: GenreModel
    mood: MoodModel
    embedding: Projection
    music: MusicDetector

    @classmethod
    def load(cls, models_dir: Path, audioset_labels: list[str]) -> Heads:
        return cls(
            genre=GenreModel(
                Classifier.load(models_dir / GENRE_HEAD_FILE), audioset_labels, NeighbourVote.load(models_dir / GENRE_NEIGHBOURS_FILE)
            ),
            mood=MoodModel.load(models_dir / MOOD_HEAD_FILE, models_dir / MOOD_NEIGHBOURS_FILE),
            embedding=Projection.load(models_dir / EMBEDDING_HEAD_FILE),
            music=MusicDetector(audioset_labels),
        )


class Analyzer:
    """Holds the models and heads; ``analyze`` is what each pool worker runs."""

    def __init__(self, models: ModelSet, heads: Heads, version: str) -> None:
        self.models = models
        self.heads = heads
        self.version = version

    @classmethod
    def load(cls, models_dir: Path = MODELS_DIR, threads: int | None = None) -> Analyzer:
        models = get_models(threads) if models_dir == MODELS_DIR else ModelSet(models_dir, threads or 1)
        return cls(models, Heads.load(models_dir, models.audioset_labels), model_version(models_dir))

    def analyze(
        self, source: str | os.PathLike | bytes, title: str = "", opts: AnalysisOptions = AnalysisOptions(), digest: str | None = None
    ) -> Analysis:
        """``digest``: the source's sha256 when the caller already computed it (saves a re-read)."""
        t0 = time.perf_counter()
        samples_32k, _info = decode(source, opts.limits, rate=RATE_32K)
        samples = to_16k(samples_32k)
        timings = {"decode": _ms(t0)}
        analysis = self.analyze_samples(samples, opts, timings, samples_32k=samples_32k)
        return replace(analysis, content_hash=digest or content_hash(source), title=title or _default_title(source))

    def analyze_samples(
        self, samples: np.ndarray, opts: AnalysisOptions = AnalysisOptions(), timings: dict | None = None, samples_32k: np.ndarray | None = None
    ) -> Analysis:
        """Mono 16 kHz float32 ``samples`` [n] (and the same audio at 32 kHz, when decoded at that
        rate; else it is upsampled from ``samples``) -> Analysis (no hash or title)."""
        timings = dict(timings or {})
        if samples_32k is None:
            import soxr

            samples_32k = soxr.resample(samples, SAMPLE_RATE, RATE_32K, quality="HQ").astype(np.float32)
        duration = samples.size / SAMPLE_RATE
        windows = analysis_windows(samples.size, opts)

        feats, audio, stage_ms = patch_features(self.models, samples_32k, samples, windows, gate=_skip_silent)
        timings.update(stage_ms)
        vote = voting_patches(feats.level_db)

        t = time.perf_counter()
        descriptors = replace(describe(audio.samples, audio.power), duration_s=round(duration, 3))
        timings["descriptors"] = _ms(t)

        t = time.perf_counter()
        rows = np.flatnonzero(vote)
        verdict = self.heads.music.assess(feats.audioset[rows])
        is_music = verdict.is_music
        used = rows if len(rows) else np.flatnonzero(feats.ran)  # silence: still a defined embedding
        heads = self.heads
        genre_rows = rows if is_music else rows[:0]
        genre = heads.genre
        x_genre = feature_matrix(feats, genre.head.blocks, genre_rows)
        patch_shares = genre.shares(x_genre, feats.audioset[genre_rows])
        # The shipped vote reads fewer blocks than the head (no taps); a vote over the head's own blocks reuses its matrix.
        x_vote = x_genre if genre.vote_blocks == genre.head.blocks else feature_matrix(feats, genre.vote_blocks, genre_rows)
        track_shares = genre.track_shares(patch_shares, x_vote)
        mood = heads.mood.probs(feature_matrix(feats, heads.mood.head.blocks, genre_rows)) if is_music else np.zeros(len(MOODS))
        embedding = heads.embedding.embed(feature_matrix(feats, heads.embedding.blocks, used))
        tags = group_tags(feats.msd[used].mean(0), feats.mtt[used].mean(0), self.models.msd_labels, self.models.mtt_labels)
        timings["heads"] = _ms(t)

        coverage = Coverage(
            duration_s=round(duration, 3),
            analyzed_s=round(min(duration, len(feats) * PATCH_S), 3),
            segments=len(feats),
            sampled=len(windows) > 1,
        )
        timeline: list[Segment] = []
        if is_music:
            share_of = dict(zip(rows.tolist(), patch_shares, strict=True))
            for i, start in enumerate(feats.start_s):
                span = (round(float(start), 3), round(min(float(start) + PATCH_S, duration), 3))
                row = share_of.get(i)
                timeline.append(Segment(*span, _shares_dict(row, GENRES, SEGMENT_MIN_SHARE)) if row is not None else Segment(*span, {}, silent=True))
        timings["total"] = round(sum(timings.values()), 2)
        return Analysis(
            model_version=self.version,
            embedding=embedding,
            genres=_shares_dict(track_shares, GENRES, 0.0) if is_music else {},
            timeline=timeline,
            tags=tags,
            descriptors=descriptors,
            coverage=coverage,
            mood=_shares_dict(mood, MOODS, 0.0) if is_music else {},
            is_music=is_music,
            not_music_reason=verdict.reason,
            music_confidence=verdict.confidence,
            timings_ms=timings,
        )


def _skip_silent(level_db: np.ndarray) -> np.ndarray:
    """Patches the models need not run on: the silent ones, unless every patch is (then all run,
    so even silence has a defined embedding and tags)."""
    vote = voting_patches(level_db)
    return ~vote if vote.any() else np.zeros_like(vote)


def _shares_dict(row: np.ndarray, names: tuple[str, ...], min_share: float) -> dict[str, float]:
    order = np.argsort(-row, kind="stable")
    return {names[i]: round(float(row[i]), 4) for i in order if row[i] >= min_share}


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
