"""inference.recommend.recommend: shares per interest, recency, exclusions, near-duplicates,
the per-source cap, likes from elsewhere and cached profiles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from inference.recommend import Catalog, RecommendConfig, build_profile, recency_weights, recommend
from tests.inference.recommend.world import DIM, World, genres_of, make_world, unit


def test_two_interests_get_equal_shares(world: World) -> None:
    likes = world.by_genre["jazz"][:5] + world.by_genre["metal"][:5]
    rec = recommend(likes, world.catalog, 10)
    got = genres_of(world, rec.picks)
    assert len(got) == 10 and rec.note is None and not rec.cold_start
    assert set(got) == {"jazz", "metal"}
    assert abs(got.count("jazz") - 5) <= 1
    assert {p.cluster for p in rec.picks} == {0, 1}


def test_eight_two_profile_gets_eighty_twenty(world: World) -> None:
    likes = world.by_genre["jazz"][:8] + world.by_genre["metal"][:2]
    got = genres_of(world, recommend(likes, world.catalog, 10).picks)
    assert set(got) == {"jazz", "metal"}
    assert abs(got.count("jazz") - 8) <= 1
    got20 = genres_of(world, recommend(likes, world.catalog, 20).picks)
    assert abs(got20.count("jazz") - 16) <= 1 and got20.count("metal") >= 3


def test_recency_weights_shift_the_proportions(world: World) -> None:
    likes = world.by_genre["jazz"][:10] + world.by_genre["metal"][:10]
    ages = [0.0] * 10 + [360.0] * 10  # metal likes two half-lives old: a quarter of the weight
    w = recency_weights(ages, half_life_days=180)
    got = genres_of(world, recommend(likes, world.catalog, 10, weights=w).picks)
    assert got.count("jazz") == 8 and got.count("metal") == 2


def test_liked_and_recent_never_recommended(world: World) -> None:
    likes = world.by_genre["jazz"][:5] + world.by_genre["classical"][:3]
    first = recommend(likes, world.catalog, 15)
    recent = [p.track_id for p in first.picks]
    second = recommend(likes, world.catalog, 15, exclude=recent)
    ids = [p.track_id for p in second.picks]
    assert len(ids) == 15 and len(set(ids)) == 15
    assert not set(ids) & set(recent)
    assert not set(ids) & set(likes)
    assert not {p.track_id for p in first.picks} & set(likes)


def test_near_duplicates_never_both_appear() -> None:
    w = make_world(seed=7)
    rng = np.random.default_rng(0)
    likes = w.by_genre["jazz"][:5]
    best = [p.track_id for p in recommend(likes, w.catalog, 20).picks]
    copies, next_id = [], 90000
    for tid in best + likes:  # another upload of each top pick and of each liked track
        t = w.catalog[tid]
        v = unit(t.embedding + 0.02 * rng.standard_normal(DIM) / np.sqrt(DIM)).astype(np.float32)
        copies.append(replace(t, track_id=next_id, embedding=v, source=f"reupload{next_id}"))
        next_id += 1
    copy_of = {c.track_id: src for c, src in zip(copies, best + likes, strict=True)}
    cat = Catalog(w.tracks + copies)
    for n in (10, 20):
        picks = recommend(likes, cat, n).picks
        ids = {p.track_id for p in picks}
        assert len(picks) == n
        assert not any(c in ids and copy_of[c] in ids for c in copy_of)
        assert not ids & {c for c, src in copy_of.items() if src in likes}
        m = np.stack([cat[i].embedding for i in ids])
        sims = m @ m.T
        np.fill_diagonal(sims, 0)
        assert sims.max() < 0.97


def test_per_source_cap() -> None:
    w = make_world(seed=11)
    jazz = set(w.by_genre["jazz"])
    tracks = [
        replace(t, source="bigband") if t.track_id in jazz and t.track_id % 10 < 7 else t
        for t in w.tracks
    ]
    cat = Catalog(tracks)
    likes = w.by_genre["jazz"][:6]
    picks = recommend(likes, cat, 10).picks
    sources = [cat[p.track_id].source for p in picks]
    assert len(picks) == 10
    assert all(sources.count(s) <= 2 for s in sources)
    # Without the cap the one big source would dominate.
    uncapped = recommend(likes, cat, 10, config=RecommendConfig(max_per_source=100)).picks
    assert [cat[p.track_id].source for p in uncapped].count("bigband") > 2
    # n=20 allows 4 per source.
    s20 = [cat[p.track_id].source for p in recommend(likes, cat, 20).picks]
    assert max(s20.count(s) for s in s20) <= 4


def test_source_cap_relaxes_only_when_nothing_else_is_left(world: World) -> None:
    tracks = [replace(t, source="only-uploader") for t in world.tracks[:30]]
    cat = Catalog(tracks)
    likes = [t.track_id for t in tracks[:3]]
    assert len(recommend(likes, cat, 10).picks) == 10
    strict = recommend(likes, cat, 10, config=RecommendConfig(strict_source_cap=True))
    assert len(strict.picks) == 2 and strict.note and "Only 2" in strict.note


def test_likes_from_another_catalog(world: World) -> None:
    """Likes that live in another guild's catalog can be passed as features."""
    elsewhere = [
        replace(world.catalog[i], track_id=50000 + k)
        for k, i in enumerate(world.by_genre["metal"][:4])
    ]
    rec = recommend([t.track_id for t in elsewhere], world.catalog, 8, liked_tracks=elsewhere)
    assert set(genres_of(world, rec.picks)) == {"metal"}
    assert {p.closest_liked_id for p in rec.picks} <= {t.track_id for t in elsewhere}
    # Unknown ids without features: treated as no likes, with a note that says so.
    unknown = recommend([424242], world.catalog, 3)
    assert (
        unknown.cold_start
        and "liked are in this server's catalog yet" in unknown.note
        and len(unknown.picks) == 3
    )


def test_cached_profile_gives_the_same_picks(world: World) -> None:
    likes = world.by_genre["jazz"][:6] + world.by_genre["hiphop"][:4]
    profile = build_profile(likes, world.catalog)
    a = recommend(likes, world.catalog, 10, exclude=likes[:1])
    b = recommend([], world.catalog, 10, exclude=likes[:1], profile=profile)
    assert a.picks == b.picks and b.profile is profile
