from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from storage import AnalysisRecord, Database

DIM = 24  # small on purpose: nothing in storage may assume the models' 200
_counter = itertools.count()


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def clustered(n: int, dim: int = DIM, clusters: int = 8, seed: int = 0) -> np.ndarray:
    """[n, dim] unit vectors from an anisotropic Gaussian mixture (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    scales = 0.6 / np.sqrt(np.arange(1, dim + 1))
    labels = rng.integers(0, clusters, n)
    x = centers[labels] + rng.normal(size=(n, dim)) * scales[rng.permutation(dim)]
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_analysis(
    key: str | None = None,
    *,
    model_version: str = "m1",
    dim: int = DIM,
    genres: dict[str, float] | None = None,
    seed: int | None = None,
    duration_s: float = 30.0,
) -> AnalysisRecord:
    key = key if key is not None else f"audio-{next(_counter)}"
    content_hash = hashlib.sha256(key.encode()).hexdigest()
    rng = np.random.default_rng(seed if seed is not None else int(content_hash[:8], 16))
    return AnalysisRecord(
        content_hash=content_hash,
        model_version=model_version,
        embedding=unit(rng, dim),
        duration_s=duration_s,
        genres=genres if genres is not None else {"rock": 0.6, "pop": 0.4},
        descriptors={"tempo_bpm": 120.0, "key": "A", "mode": "minor"},
        tags={"mood": {"happy": 0.7}},
        timeline=[{"start_s": 0.0, "end_s": 3.0, "genres": {"rock": 1.0}}],
    )


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "earworm.db"


@pytest.fixture
async def db(db_path):
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


async def add(db: Database, guild_id: int, key: str | None = None, added_by: int | None = 1, **kw):
    """put_analysis + add_track; returns the TrackRecord."""
    rec = await db.put_analysis(make_analysis(key, **kw))
    track, _ = await db.add_track(
        guild_id, rec.content_hash, f"title {key}", "link", f"https://example.com/{key}", added_by
    )
    return track
