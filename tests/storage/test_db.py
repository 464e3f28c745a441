from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from storage import (
    AnalysisReplaced,
    Database,
    PartyExistsError,
    PartyNotFoundError,
    TrackAdded,
    TrackNotFoundError,
    TrackRemoved,
    UnknownAnalysisError,
)
from tests.storage.conftest import DIM, add, make_analysis

G1, G2 = 111_111_111_111_111_111, 222_222_222_222_222_222
ALICE, BOB = 1001, 1002


# ------------------------------------------------------------------------------ analyses


async def test_analysis_roundtrip(db):
    rec = make_analysis("a", genres={"jazz": 0.9, "blues": 0.1})
    stored = await db.put_analysis(rec)
    got = await db.get_analysis(rec.content_hash, "m1")
    assert got is not None
    assert got.embedding.dtype == np.float32 and got.embedding.shape == (DIM,)
    np.testing.assert_array_equal(got.embedding, rec.embedding)
    assert got.genres == {"jazz": 0.9, "blues": 0.1}
    assert got.descriptors == rec.descriptors and got.tags == rec.tags
    assert got.timeline == rec.timeline
    assert got.created_at == stored.created_at and got.created_at.tzinfo is not None
    assert await db.get_analysis(rec.content_hash) is not None
    assert await db.get_analysis(rec.content_hash, "m2") is None  # other model: a cache miss
    assert await db.get_analysis("nope") is None


async def test_analysis_json_is_sanitised(db):
    rec = make_analysis("nan")
    rec = type(rec)(
        **{
            **{f: getattr(rec, f) for f in rec.__dataclass_fields__},
            "descriptors": {"tempo_bpm": float("nan"), "conf": np.float32(0.5), "n": np.int64(3)},
            "extra": {"coverage": (1.0, 2.0), "inf": float("inf")},
        }
    )
    got = await db.put_analysis(rec)
    assert got.descriptors == {"tempo_bpm": None, "conf": 0.5, "n": 3}
    assert got.extra == {"coverage": [1.0, 2.0], "inf": None}


@pytest.mark.parametrize(
    "embedding",
    [np.array([np.nan, 1.0], np.float32), np.zeros((2, 2), np.float32), np.zeros(0, np.float32)],
)
async def test_bad_embedding_rejected(db, embedding):
    rec = make_analysis("bad")
    rec = type(rec)(rec.content_hash, rec.model_version, embedding, rec.duration_s)
    with pytest.raises(ValueError):
        await db.put_analysis(rec)


async def test_reanalysis_replaces_and_notifies(db):
    events = []
    db.subscribe(events.append)
    t1 = await add(db, G1, "x")
    t2 = await add(db, G2, "x")
    events.clear()
    new = make_analysis("x", model_version="m2", seed=99)
    await db.put_analysis(new)
    assert len(events) == 1 and isinstance(events[0], AnalysisReplaced)
    assert set(events[0].tracks) == {(G1, t1.id), (G2, t2.id)}
    got = await db.get_track(G1, t1.id)
    assert got.model_version == "m2"
    np.testing.assert_array_equal(got.embedding, new.embedding)
    # same content again: no event
    events.clear()
    await db.put_analysis(new)
    assert events == []


async def test_stale_analyses(db):
    t_old = await add(db, G1, "old", model_version="m1")
    await add(db, G2, "old", model_version="m1")
    await add(db, G1, "new", model_version="m2")
    await db.put_analysis(make_analysis("orphan", model_version="m0"))
    stale = await db.stale_analyses("m2")
    by_hash = {s.content_hash: s for s in stale}
    assert set(by_hash) == {t_old.content_hash, make_analysis("orphan").content_hash}
    old = by_hash[t_old.content_hash]
    assert old.model_version == "m1"
    assert {(s.guild_id, s.source_kind, s.source_url) for s in old.sources} == {
        (G1, "link", "https://example.com/old"),
        (G2, "link", "https://example.com/old"),
    }
    assert by_hash[make_analysis("orphan").content_hash].sources == ()
    assert len(await db.stale_analyses("m2", limit=1)) == 1
    assert await db.stale_analyses("m1") != []
    assert await db.delete_unused_analyses() == 1  # the orphan only
    assert await db.get_analysis(make_analysis("orphan").content_hash) is None


# ------------------------------------------------------------------------------ tracks


async def test_dedupe_by_content_hash(db):
    rec = await db.put_analysis(make_analysis("song"))
    await db.put_analysis(make_analysis("song"))  # analyzed twice: still one row
    t1, created1 = await db.add_track(G1, rec.content_hash, "Song", "attachment", "jump/1", ALICE)
    t2, created2 = await db.add_track(G1, rec.content_hash, "Song again", "link", "https://x", BOB)
    assert created1 and not created2
    assert t2.id == t1.id and t2.title == "Song" and t2.added_by == ALICE
    t3, created3 = await db.add_track(G2, rec.content_hash, "Song", "file", "/music/s.ogg", BOB)
    assert created3 and t3.id != t1.id
    assert await db.count_tracks(G1) == 1
    with sqlite3.connect(db_file(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 1


def db_file(db: Database) -> str:
    return db.path


async def test_add_track_validation(db):
    with pytest.raises(UnknownAnalysisError):
        await db.add_track(G1, "0" * 64, "t", "link", "https://x", ALICE)
    rec = await db.put_analysis(make_analysis("v"))
    with pytest.raises(ValueError, match="source_kind"):
        await db.add_track(G1, rec.content_hash, "t", "torrent", "x", ALICE)
    assert await db.count_tracks(G1) == 0


async def test_track_queries(db):
    events = []
    db.subscribe(events.append)
    a = await add(db, G1, "a")
    b = await add(db, G1, "b", added_by=None)
    assert [e.track_id for e in events if isinstance(e, TrackAdded)] == [a.id, b.id]
    got = await db.get_track(G1, a.id)
    assert got.title == "title a" and got.source_kind == "link" and got.added_by == 1
    assert got.top_genre == "rock" and got.duration_s == 30.0
    assert (await db.find_track_by_source(G1, "https://example.com/b")).id == b.id
    assert await db.find_track_by_source(G1, "https://example.com/zzz") is None
    assert (await db.find_track_by_content(G1, a.content_hash)).id == a.id
    assert [t.id for t in await db.list_tracks(G1)] == [b.id, a.id]  # newest first
    assert [t.id for t in await db.list_tracks(G1, offset=1, limit=5)] == [a.id]
    assert [t.id for t in await db.get_tracks(G1, [b.id, 999, a.id])] == [b.id, a.id]
    ids, mat = await db.guild_embeddings(G1)
    assert ids.dtype == np.int64 and mat.dtype == np.float32 and mat.shape == (2, DIM)
    np.testing.assert_array_equal(mat[list(ids).index(a.id)], a.embedding)

    await db.like(G1, ALICE, a.id)
    await db.record_recommendations(G1, ALICE, [a.id])
    assert await db.remove_track(G1, a.id)
    assert not await db.remove_track(G1, a.id)
    assert isinstance(events[-1], TrackRemoved) and events[-1].track_id == a.id
    assert await db.get_track(G1, a.id) is None
    assert await db.count_likes(G1, ALICE) == 0  # cascaded
    assert await db.recent_recommendations(G1, ALICE) == []
    assert await db.get_analysis(a.content_hash) is not None  # the analysis stays

    c = await add(db, G1, "c")
    assert c.id > b.id > a.id  # ids are never reused


async def test_guild_embeddings_mixed_dims_and_empty(db):
    ids, mat = await db.guild_embeddings(G2)
    assert ids.shape == (0,) and mat.shape == (0, 0)
    await add(db, G1, "d16", dim=16, model_version="small")
    await add(db, G1, "d32", dim=32, model_version="big")
    with pytest.raises(ValueError, match="dimensions"):
        await db.guild_embeddings(G1)
    ids, mat = await db.guild_embeddings(G1, model_version="big")
    assert mat.shape == (1, 32)


async def test_guild_isolation(db):
    a = await add(db, G1, "shared-in-g1")
    await db.like(G1, ALICE, a.id)
    # nothing of guild 1 is visible from guild 2
    assert await db.get_track(G2, a.id) is None
    assert await db.get_tracks(G2, [a.id]) == []
    assert await db.list_tracks(G2) == []
    assert await db.find_track_by_source(G2, "https://example.com/shared-in-g1") is None
    assert await db.find_track_by_content(G2, a.content_hash) is None
    assert await db.popular_tracks(G2) == []
    assert (await db.catalog_stats(G2)).track_count == 0
    assert len((await db.guild_embeddings(G2))[0]) == 0
    assert await db.list_likes(G2, ALICE) == []
    assert not await db.remove_track(G2, a.id)
    with pytest.raises(TrackNotFoundError):
        await db.like(G2, ALICE, a.id)
    assert await db.record_recommendations(G2, ALICE, [a.id]) == 0
    # and the schema itself refuses cross-guild references
    with sqlite3.connect(db_file(db)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO likes VALUES (?, ?, ?, 0)", (G2, BOB, a.id))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO recommendations (guild_id, user_id, track_id, recommended_at) "
                "VALUES (?, ?, ?, 0)",
                (G2, BOB, a.id),
            )
    assert await db.get_track(G1, a.id) is not None


# ------------------------------------------------------------------------------ likes


async def test_likes(db):
    tracks = [await add(db, G1, f"t{i}") for i in range(5)]
    assert await db.like(G1, ALICE, tracks[0].id)
    assert not await db.like(G1, ALICE, tracks[0].id)  # twice is one like
    for t in tracks[1:4]:
        await db.like(G1, ALICE, t.id)
    assert await db.count_likes(G1, ALICE) == 4
    assert await db.is_liked(G1, ALICE, tracks[2].id)
    assert not await db.is_liked(G1, BOB, tracks[2].id)
    liked = await db.list_likes(G1, ALICE, offset=0, limit=2)
    assert len(liked) == 2
    everything = await db.list_likes(G1, ALICE, offset=0, limit=None)
    assert {t.id for t in everything} == {t.id for t in tracks[:4]}
    page2 = await db.list_likes(G1, ALICE, offset=2, limit=2)
    assert [t.id for t in liked + page2] == [t.id for t in everything]
    assert await db.liked_track_ids(G1, ALICE) == {t.id for t in tracks[:4]}
    assert await db.unlike(G1, ALICE, tracks[0].id)
    assert not await db.unlike(G1, ALICE, tracks[0].id)
    assert await db.count_likes(G1, ALICE) == 3
    with pytest.raises(TrackNotFoundError):
        await db.like(G1, ALICE, 123456)


async def test_likes_survive_reopen(db_path):
    async with Database.open(db_path) as db:
        t = await add(db, G1, "keep")
        await db.like(G1, ALICE, t.id)
        await db.like(G1, BOB, t.id)
        await db.unlike(G1, BOB, t.id)
    async with Database.open(db_path) as db:
        assert await db.liked_track_ids(G1, ALICE) == {t.id}
        assert await db.count_likes(G1, BOB) == 0
        assert (await db.list_likes(G1, ALICE))[0].title == "title keep"


async def test_popular_tracks(db):
    t = [await add(db, G1, f"p{i}") for i in range(4)]
    for user, track in [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (1, 2)]:
        await db.like(G1, user, t[track].id)
    other = await add(db, G2, "elsewhere")
    for user in range(10):
        await db.like(G2, user, other.id)
    popular = await db.popular_tracks(G1, 2)
    assert [(tr.id, n) for tr, n in popular] == [(t[0].id, 3), (t[1].id, 2)]
    assert [tr.id for tr, _ in await db.popular_tracks(G1, 10)] == [t[0].id, t[1].id, t[2].id]


# ------------------------------------------------------------------------------ recommendations


async def test_recommendation_history(db_path):
    clock = [1_000_000.0]
    async with Database.open(db_path, clock=lambda: clock[0]) as db:
        t = [await add(db, G1, f"r{i}") for i in range(6)]
        assert await db.record_recommendations(G1, ALICE, [t[0].id, t[1].id, 999_999]) == 2
        clock[0] += 100
        await db.record_recommendations(G1, ALICE, [t[2].id, t[0].id])
        clock[0] += 100
        await db.record_recommendations(G1, BOB, [t[3].id])
        assert await db.recent_recommendations(G1, ALICE) == sorted(
            [t[2].id, t[0].id], reverse=True
        ) + [t[1].id]
        since = datetime.fromtimestamp(1_000_050, UTC)
        assert set(await db.recent_recommendations(G1, ALICE, since=since)) == {t[0].id, t[2].id}
        assert len(await db.recent_recommendations(G1, ALICE, limit=1)) == 1
        assert await db.recent_recommendations(G2, ALICE) == []
        at = datetime.fromtimestamp(2_000_000, UTC)
        await db.record_recommendations(G1, ALICE, [t[5].id], at=at)
        assert (await db.recent_recommendations(G1, ALICE, limit=1)) == [t[5].id]
        assert await db.prune_recommendations(datetime.fromtimestamp(1_000_150, UTC)) == 4
        assert set(await db.recent_recommendations(G1, ALICE)) == {t[5].id}
        assert await db.recent_recommendations(G1, BOB) == [t[3].id]
        with pytest.raises(ValueError, match="naive"):
            await db.recent_recommendations(G1, ALICE, since=datetime(2020, 1, 1))


# ------------------------------------------------------------------------------ parties


async def test_parties(db):
    channel = 555
    party = await db.start_party(G1, channel, ALICE)
    assert party.active and party.host_id == ALICE and party.message_id is None
    assert await db.set_party_message(party.id, 777)
    assert (await db.active_party(G1, channel)).message_id == 777
    assert await db.active_party(G2, channel) is None
    with pytest.raises(PartyExistsError) as exc:
        await db.start_party(G1, channel, BOB)
    assert exc.value.party.id == party.id
    other = await db.start_party(G1, channel + 1, BOB)  # another channel is fine
    assert other.id != party.id

    assert [m.user_id for m in await db.members(party.id)] == [ALICE]
    assert await db.join(party.id, BOB)
    assert not await db.join(party.id, BOB)
    assert [m.user_id for m in await db.members(party.id)] == [ALICE, BOB]
    assert await db.leave(party.id, ALICE)
    assert not await db.leave(party.id, ALICE)
    assert [m.user_id for m in await db.members(party.id)] == [BOB]

    assert await db.end_party(party.id)
    assert not await db.end_party(party.id)
    assert await db.active_party(G1, channel) is None
    ended = await db.get_party(party.id)
    assert not ended.active and ended.ended_at >= ended.created_at
    with pytest.raises(PartyNotFoundError):
        await db.join(party.id, 3)
    with pytest.raises(PartyNotFoundError):
        await db.join(424242, 3)
    again = await db.start_party(G1, channel, BOB)  # a new party once the old one ended
    assert again.id > other.id


# ------------------------------------------------------------------------------ forget


async def test_forget_user_everywhere(db):
    alice = 987_654_321_012_345_678  # distinctive: searched for in every column of every table
    t1 = await add(db, G1, "f1", added_by=alice)
    t2 = await add(db, G2, "f2", added_by=alice)
    t3 = await add(db, G1, "f3", added_by=BOB)
    for g, t in [(G1, t1), (G1, t3), (G2, t2)]:
        await db.like(g, alice, t.id)
        await db.like(g, BOB, t.id)
        await db.record_recommendations(g, alice, [t.id])
        await db.record_recommendations(g, BOB, [t.id])
    hosted = await db.start_party(G1, 10, alice)
    await db.join(hosted.id, BOB)
    bobs = await db.start_party(G2, 20, BOB)
    await db.join(bobs.id, alice)

    report = await db.forget_user(alice)
    assert (report.likes, report.recommendations, report.party_memberships) == (3, 3, 2)
    assert (report.tracks_unlinked, report.parties_unhosted) == (2, 1)

    with sqlite3.connect(db_file(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for col in [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]:
                n = conn.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" = ?', (alice,))
                assert n.fetchone()[0] == 0, f"{table}.{col} still holds the user"
    # the tracks stay, unlinked; Bob's things are untouched
    assert (await db.get_track(G1, t1.id)).added_by is None
    assert await db.count_likes(G1, BOB) == 2 and await db.count_likes(G2, BOB) == 1
    assert len(await db.recent_recommendations(G1, BOB)) == 2
    assert [m.user_id for m in await db.members(hosted.id)] == [BOB]
    assert (await db.get_party(hosted.id)).host_id is None
    assert (await db.forget_user(alice)).total == 0


# ------------------------------------------------------------------------------ stats


async def test_catalog_stats(db):
    await add(db, G1, "s1", genres={"rock": 0.5, "jazz": 0.5}, duration_s=10)
    await add(db, G1, "s2", genres={"rock": 1.0}, duration_s=20, added_by=2)
    t = await add(db, G1, "s3", genres={}, duration_s=5, added_by=None)
    await db.like(G1, ALICE, t.id)
    await add(db, G2, "s4", genres={"metal": 1.0})
    stats = await db.catalog_stats(G1)
    assert stats.track_count == 3 and stats.like_count == 1 and stats.contributor_count == 2
    assert stats.total_duration_s == 35
    assert stats.genre_mix == pytest.approx({"rock": 0.75, "jazz": 0.25})
    assert list(stats.genre_mix) == ["rock", "jazz"]
    empty = await db.catalog_stats(G2 + 1)
    assert empty.track_count == 0 and empty.genre_mix == {}


async def test_closed_database_refuses(db_path):
    db = await Database.open(db_path)
    await db.close()
    await db.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        await db.count_tracks(G1)


async def test_timestamps_use_clock(db_path):
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with Database.open(db_path, clock=lambda: now.timestamp()) as db:
        t = await add(db, G1, "clock")
        assert t.added_at == now
        assert (await db.start_party(G1, 1, ALICE)).created_at == now
        assert now - timedelta(seconds=1) < (await db.get_analysis(t.content_hash)).created_at


async def test_set_track_source_and_descriptors(db):
    a = await add(db, G1, "src")
    assert await db.set_track_source(G1, a.id, "https://discord.com/channels/1/2/3")
    assert not await db.set_track_source(G2, a.id, "elsewhere")  # another guild's track
    assert (await db.get_track(G1, a.id)).source_url == "https://discord.com/channels/1/2/3"
    found = await db.find_track_by_source(G1, "https://discord.com/channels/1/2/3")
    assert found.id == a.id
    assert await db.track_descriptors(G1) == {
        a.id: {"tempo_bpm": 120.0, "key": "A", "mode": "minor"}
    }
    assert await db.track_descriptors(G2) == {}
