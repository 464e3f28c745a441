"""The ``Analysis`` result: one per track, with a stable JSON form.

``Analysis.to_dict()`` / ``Analysis.from_dict()`` round-trip exactly; ``SCHEMA_VERSION`` changes
only when the JSON shape changes (2: ``mood`` and silent timeline segments). ``model_version``
names the ONNX models and trained heads that produced the numbers (``earworm reindex``
re-analyses older ones).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inference.keys import make_key

# 2: descriptors gained tempo_alternative_bpm, key_name, relative_key, camelot;
# 3: the track's mood and silent timeline segments.
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Segment:
    """One 3-second stretch of the track and its genre shares (summing to 1), or a silent
    stretch (``silent``: no genres; it did not vote in the track's genres, mood or embedding)."""

    start_s: float
    end_s: float
    genres: dict[str, float]
    silent: bool = False


@dataclass(frozen=True)
class Descriptors:
    """Tempo, key, loudness, brightness.

    ``key_name``, ``relative_key`` and ``camelot`` spell the key the way musicians and DJs read
    it ("A minor", "C major", "8A"); they are derived from ``key`` and ``mode`` (whatever is
    passed for them is ignored), so records written before they existed read the same.
    """

    tempo_bpm: float | None  # None where no steady beat was found
    tempo_confidence: float  # 0..1: beat strength x how clearly this tempo beats its half/double
    key: str | None  # pitch class name, e.g. "F#"; None for atonal/unpitched input
    mode: str | None  # "major" | "minor"
    key_confidence: float  # calibrated probability that the key is exactly right
    loudness_db: float  # mean RMS level in dBFS
    brightness_hz: float  # mean spectral centroid
    duration_s: float
    tempo_alternative_bpm: float | None = None  # the half or double tempo, when nearly as likely
    key_name: str | None = None  # "A minor", conventional spelling
    relative_key: str | None = None  # "C major"
    camelot: str | None = None  # "8A"

    def __post_init__(self) -> None:
        key = make_key(self.key, self.mode)
        object.__setattr__(self, "key_name", key.name if key else None)
        object.__setattr__(self, "relative_key", key.relative.name if key else None)
        object.__setattr__(self, "camelot", key.camelot if key else None)


@dataclass(frozen=True)
class Coverage:
    """What part of the track the numbers describe (long tracks are sampled evenly)."""

    duration_s: float
    analyzed_s: float
    segments: int
    sampled: bool  # True when only evenly spaced stretches were analyzed


@dataclass(frozen=True)
class Analysis:
    """Everything Earworm knows about one track.

    ``embedding`` is an L2-normalised float32 vector: cosine similarity (a dot product) between two
    embeddings is the similarity used for recommendations and retrieval evaluation.
    ``is_music`` is False for speech, silence and noise; then ``not_music_reason`` says which and
    the genre and mood fields are empty. ``mood``: shares of the four 4Q quadrants (Russell's
    valence x arousal: happy/energetic, tense/angry, sad, calm), sorted, summing to 1.
    """

    model_version: str
    embedding: np.ndarray  # [D] float32, unit norm
    genres: dict[str, float]  # whole-track shares over the genre vocabulary, sorted, sum to 1
    timeline: list[Segment]
    tags: dict[str, dict[str, float]]  # {"mood": {...}, "era": {...}, "vocals": {...}, "instruments": {...}}
    descriptors: Descriptors
    coverage: Coverage
    mood: dict[str, float] = field(default_factory=dict)
    is_music: bool = True
    not_music_reason: str | None = None  # "silence" | "speech" | "noise"
    music_confidence: float = 1.0
    content_hash: str = ""  # sha256 of the input bytes
    title: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def top_genre(self) -> str | None:
        return next(iter(self.genres), None) if self.is_music else None

    @property
    def top_mood(self) -> str | None:
        return next(iter(self.mood), None) if self.is_music else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema_version"] = SCHEMA_VERSION
        d["embedding"] = [round(float(v), 7) for v in self.embedding]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analysis:
        d = dict(d)
        d.pop("schema_version", None)  # older versions lack only defaulted fields (mood, silent, key names)
        d["embedding"] = np.asarray(d["embedding"], dtype=np.float32)
        d["timeline"] = [Segment(**s) for s in d["timeline"]]
        d["descriptors"] = Descriptors(**d["descriptors"])
        d["coverage"] = Coverage(**d["coverage"])
        return cls(**d)
