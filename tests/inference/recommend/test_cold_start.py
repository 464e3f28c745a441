"""inference.recommend: no likes, empty or tiny catalogs, and other edge cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inference.recommend import (
    NOTE_EMPTY_CATALOG,
    NOTE_NOTHING_NEW,
    Catalog,
    blend_party,
    order_playlist,
    recommend,
)
from tests.inference.recommend.world import World, best_sim, genres_of


def test_cold_start_with_popular(world: World) -> None:
    popular = world.by_genre["hiphop"][:3] + world.by_genre["jazz"][:2]
    rec = recommend([], world.catalog, 8, popular_ids=popular, exclude=[popular[1]])
    assert rec.cold_start and rec.profile is None
    assert rec.note.startswith("You haven't liked anything yet — react ❤️ to a few tracks.")
    assert "popular in this server" in rec.note
    ids = [p.track_id for p in rec.picks]
    assert ids[:4] == [popular[0], popular[2], popular[3], popular[4]]
    assert len(ids) == 8 and len(set(ids)) == 8 and popular[1] not in ids
    assert rec.picks[0].reason.startswith("popular in this server")
    assert all(p.closest_liked_id is None and p.cluster is None for p in rec.picks)


def test_cold_start_without_popular_is_diverse(world: World) -> None:
    rec = recommend([], world.catalog, 6)
    assert rec.cold_start and "varied sample" in rec.note
    assert len(rec.picks) == 6
    assert len(set(genres_of(world, rec.picks))) >= 5
    assert rec.picks == recommend([], world.catalog, 6).picks


def test_empty_catalog() -> None:
    cat = Catalog([])
    for likes in ([], [1, 2]):
        rec = recommend(likes, cat, 10)
        assert rec.picks == [] and rec.note == NOTE_EMPTY_CATALOG
    party = blend_party({"a": [1], "b": []}, cat, 10)
    assert party.picks == [] and party.note == NOTE_EMPTY_CATALOG
    assert order_playlist([], cat) == []


def test_n_larger_than_catalog(world: World) -> None:
    cat = Catalog(world.tracks[:12])
    likes = [world.tracks[0].track_id, world.tracks[1].track_id]
    rec = recommend(likes, cat, 50)
    ids = [p.track_id for p in rec.picks]
    assert len(ids) == 10 and len(set(ids)) == 10 and not set(ids) & set(likes)
    assert rec.note and "Only 10" in rec.note
    assert len(recommend([], cat, 50).picks) == 12
    party = blend_party({"a": likes, "b": [world.tracks[5].track_id]}, cat, 50)
    assert len(party.picks) == 9 and len({p.track_id for p in party.picks}) == 9


def test_one_track_catalog(world: World) -> None:
    only = world.tracks[0]
    cat = Catalog([only])
    liked_it = recommend([only.track_id], cat, 5)
    assert liked_it.picks == [] and liked_it.note == NOTE_NOTHING_NEW
    cold = recommend([], cat, 5)
    assert [p.track_id for p in cold.picks] == [only.track_id]
    other = replace(world.tracks[1], track_id=777)
    rec = recommend([777], cat, 5, liked_tracks=[other])
    assert [p.track_id for p in rec.picks] == [only.track_id] and rec.picks[
        0
    ].closest_liked_id == 777
    assert order_playlist(rec.picks, cat) == rec.picks
    assert recommend([only.track_id], cat, 0).picks == []


def test_one_cluster_catalog(world: World) -> None:
    cat = Catalog([t for t in world.tracks if world.genre_of[t.track_id] == "metal"])
    likes = world.by_genre["metal"][:10]
    rec = recommend(likes, cat, 10)
    assert len(rec.picks) == 10 and 1 <= len(rec.profile.clusters) <= 6
    # Relative to a catalog that is all one genre, likes spread like random picks of it are
    # separate interests: picks stay close to each liked track rather than to a blurred centre.
    median = np.median([best_sim(cat, int(t), likes) for t in cat.ids if int(t) not in likes])
    assert all(best_sim(cat, p.track_id, likes) > median for p in rec.picks)
    assert len({p.closest_liked_id for p in rec.picks}) >= 3
    assert len(recommend([], cat, 10).picks) == 10


def test_negative_n_is_a_programming_error(world: World) -> None:
    with pytest.raises(ValueError):
        recommend([], world.catalog, -1)
