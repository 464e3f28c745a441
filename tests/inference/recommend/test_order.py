"""inference.recommend: playlist order and the transition cost between tracks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.recommend import (
    Catalog,
    RecommendConfig,
    TrackFeatures,
    order_playlist,
    playlist_cost,
    recommend,
    transition_matrix,
)
from tests.inference.recommend.world import DIM, World, genres_of, unit


def test_order_playlist_lowers_transition_cost(world: World) -> None:
    likes = (
        world.by_genre["jazz"][:4] + world.by_genre["metal"][:4] + world.by_genre["classical"][:4]
    )
    picks = recommend(likes, world.catalog, 24).picks
    rng = np.random.default_rng(3)
    shuffled = [picks[i] for i in rng.permutation(len(picks))]
    ordered = order_playlist(shuffled, world.catalog)
    assert sorted(p.track_id for p in ordered) == sorted(p.track_id for p in picks)
    assert ordered[0] == shuffled[0]  # the first pick opens the set
    before = playlist_cost(shuffled, world.catalog)
    after = playlist_cost(ordered, world.catalog)
    assert after < 0.7 * before
    randoms = [
        playlist_cost([shuffled[i] for i in rng.permutation(24)], world.catalog) for _ in range(50)
    ]
    assert after < min(randoms)
    # Interests stay together: few switches between clusters along the playlist.
    g = genres_of(world, ordered)
    assert sum(a != b for a, b in zip(g, g[1:], strict=False)) <= 4
    free = order_playlist(shuffled, world.catalog, keep_first=False)
    assert sorted(p.track_id for p in free) == sorted(p.track_id for p in picks)
    assert playlist_cost(free, world.catalog) <= before
    # Plain ids work too.
    ids = [p.track_id for p in shuffled]
    assert order_playlist(ids, world.catalog) == [p.track_id for p in ordered]


def test_transition_matrix(world: World) -> None:
    ids = world.by_genre["jazz"][:5] + world.by_genre["metal"][:5]
    c = transition_matrix(ids, world.catalog)
    assert c.shape == (10, 10)
    np.testing.assert_allclose(c, c.T)
    assert np.all(np.diag(c) == 0) and np.all(c >= 0)
    # Within a genre transitions are cheaper than across on average.
    assert c[:5, :5].sum() / 20 < c[:5, 5:].mean()
    t = [replace(world.catalog[i], tempo_bpm=None, key=None) for i in ids[:3]]
    assert np.isfinite(transition_matrix([x.track_id for x in t], Catalog(t))).all()


def _same_sound(keys: list[tuple[str, str, float]]) -> Catalog:
    """Tracks that sound alike at one tempo, differing only in key and key confidence."""
    emb = unit(np.ones(DIM))
    return Catalog(
        TrackFeatures(i, emb, {"jazz": 1.0}, 100.0, k, m, f"t{i}", f"s{i}", key_confidence=c)
        for i, (k, m, c) in enumerate(keys)
    )


def test_playlist_order_follows_sure_keys_around_the_circle_of_fifths() -> None:
    cat = _same_sound([("C", "major", 0.9), ("F#", "major", 0.9), ("G", "major", 0.9), ("C#", "major", 0.9)])
    assert order_playlist([0, 1, 2, 3], cat) == [0, 2, 1, 3]  # C, G, then F#, C# (neighbours)


def test_transition_cost_trusts_a_key_relation_only_as_much_as_both_keys() -> None:
    w = RecommendConfig().w_key
    sure = _same_sound([("C", "major", 0.95), ("F#", "major", 0.95), ("A", "minor", 0.95)])
    c = transition_matrix([0, 1, 2], sure)
    assert c[0, 2] == pytest.approx(w * (0.9025 * 0.1 + 0.0975 * 0.5), abs=1e-5)  # relative: mode change
    assert c[0, 1] == pytest.approx(w * (0.9025 * 1.0 + 0.0975 * 0.5), abs=1e-5)  # a tritone apart
    unsure = _same_sound([("C", "major", 0.1), ("F#", "major", 0.95), (None, None, 0.0)])
    u = transition_matrix([0, 1, 2], unsure)
    # A guessed key costs nearly what an unknown key does, whatever it is.
    assert u[0, 1] == pytest.approx(w * 0.5, abs=0.05 * w) and u[1, 2] == pytest.approx(w * 0.5, abs=1e-5)
