"""inference.recommend: the catalog and taste profiles (interests found in likes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.recommend import Catalog, RecommendConfig, TrackFeatures, build_profile
from tests.inference.recommend.world import DIM, GENRES, PER_GENRE, World


def test_catalog_shapes_and_lookup(world: World) -> None:
    cat = world.catalog
    assert len(cat) == 6 * PER_GENRE
    assert cat.ids.dtype == np.int64 and cat.matrix.shape == (len(cat), DIM)
    assert cat.matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cat.matrix, axis=1), 1.0, atol=1e-5)
    rows = cat.rows_for([1005, 99999, 1000])
    assert cat.ids[rows].tolist() == [1005, 1000]
    assert 1000 in cat and 99999 not in cat
    assert cat[1000].title == "jazz song 0"


def test_catalog_rejects_bad_input(world: World) -> None:
    t = world.tracks[0]
    with pytest.raises(ValueError):
        Catalog([t, t])
    with pytest.raises(ValueError):
        Catalog([t, replace(t, track_id=1, embedding=np.ones(10, dtype=np.float32))])


def test_profile_finds_separate_interests(world: World) -> None:
    jazz, metal, classical = (world.by_genre[g] for g in ("jazz", "metal", "classical"))
    assert len(build_profile(jazz[:6], world.catalog).clusters) == 1
    p = build_profile(jazz[:5] + metal[:5], world.catalog)
    assert len(p.clusters) == 2
    assert {c.top_genre for c in p.clusters} == {"jazz", "metal"}
    assert all(
        {world.genre_of[i] for i in c.liked_ids} in ({"jazz"}, {"metal"}) for c in p.clusters
    )
    p3 = build_profile(jazz[:4] + metal[:4] + classical[:4], world.catalog)
    assert len(p3.clusters) == 3
    np.testing.assert_allclose([c.weight for c in p3.clusters], [1 / 3] * 3)
    assert len(build_profile([jazz[0]], world.catalog).clusters) == 1
    # Two likes far apart are two interests, not one blurred centroid.
    assert len(build_profile([jazz[0], metal[0]], world.catalog).clusters) == 2


def test_profile_with_many_likes_folds_strays_and_caps_clusters(world: World) -> None:
    rng = np.random.default_rng(5)
    likes = [
        int(i)
        for g in ("jazz", "metal", "hiphop")
        for i in rng.choice(world.by_genre[g], 60, replace=False)
    ]
    likes += [world.by_genre["country"][0], world.by_genre["electronic"][0]]  # two strays (1% each)
    p = build_profile(likes, world.catalog)
    assert len(p.clusters) == 3
    assert sorted(c.top_genre for c in p.clusters) == ["hiphop", "jazz", "metal"]
    many = [int(i) for g in GENRES for i in world.by_genre[g][:10]]
    assert (
        len(build_profile(many, world.catalog, config=RecommendConfig(max_clusters=4)).clusters)
        == 4
    )


def test_track_features_from_analysis() -> None:
    from inference.result import Analysis, Coverage, Descriptors

    a = Analysis(
        model_version="test",
        embedding=np.full(8, 0.5, dtype=np.float32),
        genres={"jazz": 0.7, "blues": 0.3},
        timeline=[],
        tags={},
        descriptors=Descriptors(92.0, 0.9, "F", "major", 0.8, -14.0, 1800.0, 30.0),
        coverage=Coverage(30.0, 30.0, 10, False),
        title="Vibe Ace",
    )
    t = TrackFeatures.from_analysis(7, a, source="example.com/kevin")
    assert (t.track_id, t.tempo_bpm, t.key, t.mode, t.title, t.top_genre) == (
        7,
        92.0,
        "F",
        "major",
        "Vibe Ace",
        "jazz",
    )
    assert t.embedding.dtype == np.float32 and t.source == "example.com/kevin"
