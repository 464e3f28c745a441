from __future__ import annotations

import asyncio

import numpy as np
import pytest

from storage import AnnParams, IndexCache, VectorIndex
from tests.storage.conftest import DIM, add, clustered, make_analysis


def brute(ids: np.ndarray, mat: np.ndarray, q: np.ndarray, k: int, exclude=()) -> list:
    mat = mat / np.linalg.norm(mat, axis=1, keepdims=True)
    q = q / np.linalg.norm(q)
    scores = mat @ q
    order = np.argsort(-scores, kind="stable")
    out = [(int(ids[i]), float(scores[i])) for i in order if int(ids[i]) not in set(exclude)]
    return out[:k]


def assert_same(hits, expected):
    assert [h[0] for h in hits] == [e[0] for e in expected]
    np.testing.assert_allclose([h[1] for h in hits], [e[1] for e in expected], rtol=0, atol=1e-5)


def recall(index: VectorIndex, ids, mat, queries, k=10) -> float:
    hits = 0
    for q in queries:
        got = {i for i, _ in index.search(q, k)}
        hits += len(got & {i for i, _ in brute(ids, mat, q, k)})
    return hits / (k * len(queries))


# ------------------------------------------------------------------------------ exact


def test_exact_equals_brute_force():
    mat = clustered(2000, seed=1)
    ids = np.arange(2000, dtype=np.int64) * 7 + 3  # ids are not row numbers
    index = VectorIndex.build(ids, mat)
    assert index.backend == "exact" and len(index) == 2000 and index.dim == DIM
    queries = clustered(20, seed=2)
    for q in queries:
        assert_same(index.search(q, 10), brute(ids, mat, q, 10))
    batch = index.search(queries, 5)
    assert len(batch) == 20
    for q, hits in zip(queries, batch, strict=True):
        assert_same(hits, brute(ids, mat, q, 5))
    batch8 = index.search(np.repeat(queries, 3, axis=0), 5)  # the BLAS path (Q > 4)
    assert_same(batch8[0], brute(ids, mat, queries[0], 5))
    # an unnormalised query gives the same neighbours and cosine scores
    assert_same(index.search(queries[0] * 5, 10), brute(ids, mat, queries[0], 10))


def test_exact_exclude_and_small_k():
    mat = clustered(50, seed=3)
    ids = np.arange(50, dtype=np.int64)
    index = VectorIndex.build(ids, mat)
    q = mat[0]
    top = index.search(q, 10)
    assert top[0][0] == 0 and top[0][1] == pytest.approx(1.0, abs=1e-5)
    excl = {i for i, _ in top[:5]} | {999}
    hits = index.search(q, 10, exclude_ids=excl)
    assert not excl & {i for i, _ in hits}
    assert_same(hits, brute(ids, mat, q, 10, excl))
    assert len(index.search(q, 100)) == 50
    assert len(index.search(q, 100, exclude_ids=range(45))) == 5
    assert index.search(q, 10, exclude_ids=range(50)) == []
    assert index.search(q, 0) == []


def test_exact_stays_correct_after_adds_and_removes():
    rng = np.random.default_rng(5)
    pool = clustered(600, seed=5)
    index = VectorIndex(DIM)
    live: dict[int, np.ndarray] = {}
    for step in range(60):
        new = rng.choice(600, size=rng.integers(1, 15), replace=False)
        index.add(new, pool[new])
        live.update({int(i): pool[i] for i in new})
        if live and step % 2:
            gone = rng.choice(
                list(live), size=min(len(live), int(rng.integers(1, 10))), replace=False
            )
            assert index.remove(gone) == len(gone)
            for g in gone:
                live.pop(int(g))
        assert len(index) == len(live)
        ids = np.array(sorted(live), np.int64)
        mat = np.stack([live[i] for i in ids]) if len(ids) else np.zeros((0, DIM), np.float32)
        q = pool[rng.integers(600)]
        if len(ids):
            assert_same(index.search(q, 8), brute(ids, mat, q, 8))
    # upsert replaces a vector
    tid = next(iter(live))
    index.add([tid], -pool[0])
    assert index.search(-pool[0], 1)[0][0] == tid
    assert index.remove([123456]) == 0
    assert tid in index and 123456 not in index


def test_empty_and_invalid():
    index = VectorIndex()
    assert index.search(np.ones(DIM), 5) == [] and len(index) == 0
    empty = VectorIndex.build(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
    assert empty.search(np.ones(4), 3) == []
    index.add([1], np.ones(DIM))
    assert index.dim == DIM
    with pytest.raises(ValueError, match="dimension"):
        index.add([2], np.ones(DIM + 1))
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones(DIM + 1), 3)
    with pytest.raises(ValueError):
        index.add([3], np.zeros(DIM))
    with pytest.raises(ValueError, match="duplicate"):
        index.add([4, 4], np.ones((2, DIM)))
    with pytest.raises(ValueError, match="non-negative"):
        index.add([-1], np.ones(DIM))
    assert index.search(np.ones(DIM), 5, exclude_ids={-3}) == [(1, pytest.approx(1.0))]


# ------------------------------------------------------------------------------ approximate


def test_approximate_recall_on_clustered_data():
    n = 4000
    mat = clustered(n, seed=11)
    ids = np.arange(n, dtype=np.int64) + 1_000_000_000_000  # large, snowflake-like ids
    index = VectorIndex.build(ids, mat, approx_threshold=1000, threads=1)
    assert index.backend == "faiss-ivf" and len(index) == n
    queries = clustered(60, seed=12)
    assert recall(index, ids, mat, queries) >= 0.95
    hits = index.search(queries[0], 10)
    exact = brute(ids, mat, queries[0], 10)
    assert abs(hits[0][1] - exact[0][1]) < 1e-4  # scores are cosine similarities
    # exclude on the approximate path
    excl = {i for i, _ in hits[:5]}
    hits2 = index.search(queries[0], 10, exclude_ids=excl)
    assert len(hits2) == 10 and not excl & {i for i, _ in hits2}
    many = set(int(i) for i in ids[:3000])  # exclusions far beyond k: still k hits
    hits3 = index.search(queries[0], 10, exclude_ids=many)
    assert len(hits3) == 10 and not many & {i for i, _ in hits3}


def test_switches_backend_as_the_catalog_grows_and_shrinks():
    mat = clustered(1500, seed=21)
    ids = np.arange(1500, dtype=np.int64)
    index = VectorIndex(approx_threshold=1000, ann_params=AnnParams(nprobe=16), threads=1)
    index.add(ids[:900], mat[:900])
    assert index.backend == "exact"
    index.add(ids[900:], mat[900:])
    assert index.backend == "faiss-ivf" and len(index) == 1500
    # adds and removes on the approximate path
    assert index.remove(ids[:100]) == 100
    removed = set(int(i) for i in ids[:100])
    for q in mat[:20]:
        assert not removed & {i for i, _ in index.search(q, 10)}
    new = clustered(1, seed=99)[0]
    index.add([77_777], new)
    assert index.search(new, 1)[0][0] == 77_777
    index.add([77_777], -new)  # upsert on the approximate path
    assert index.search(-new, 1)[0][0] == 77_777
    assert recall(index, ids[100:], mat[100:], clustered(30, seed=22)) >= 0.9
    # shrink below half the threshold: back to exact, same contents
    index.remove(ids[100:1100])
    assert index.backend == "exact" and len(index) == 401
    live_ids, live_mat = index.items()
    q = clustered(1, seed=23)[0]
    assert_same(index.search(q, 10), brute(live_ids, live_mat, q, 10))
    assert 77_777 in live_ids


# ------------------------------------------------------------------------------ cache


GUILD, OTHER = 7, 8


async def test_cache_builds_and_follows_the_database(db):
    tracks = [await add(db, GUILD, f"g{i}") for i in range(30)]
    other = await add(db, OTHER, "other-guild")
    cache = IndexCache(db)
    index = await cache.get(GUILD)
    assert len(index) == 30 and other.id not in index
    assert await cache.get(GUILD) is index  # cached

    q = tracks[3].embedding
    assert (await cache.search(GUILD, q, 1))[0][0] == tracks[3].id
    new = await add(db, GUILD, "late")
    assert new.id in index and len(index) == 31
    assert (await cache.search(GUILD, new.embedding, 1))[0][0] == new.id
    assert await db.remove_track(GUILD, tracks[3].id)
    assert tracks[3].id not in index
    assert tracks[3].id not in {i for i, _ in await cache.search(GUILD, q, 5)}
    # re-analysis with a new model moves the vector
    replaced = make_analysis("g5", model_version="m2", seed=1234)
    await db.put_analysis(replaced)
    hit = (await cache.search(GUILD, replaced.embedding, 1))[0]
    assert hit[0] == tracks[5].id and hit[1] == pytest.approx(1.0, abs=1e-5)
    # guild isolation: the other guild's index holds only its own track
    assert [i for i, _ in await cache.search(OTHER, q, 10)] == [other.id]
    # and the cache equals a fresh build from the database
    ids, mat = await db.guild_embeddings(GUILD)
    got_ids, _ = index.items()
    assert set(got_ids.tolist()) == set(ids.tolist())
    cache.close()
    await add(db, GUILD, "after-close")
    assert len(index) == len(ids)  # no longer subscribed


async def test_cache_replays_changes_made_during_a_build(db):
    for i in range(10):
        await add(db, GUILD, f"b{i}")
    cache = IndexCache(db)
    real = db.guild_embeddings
    added = []

    async def slow_snapshot(guild_id, model_version=None):
        result = await real(guild_id, model_version)
        added.append(await add(db, GUILD, "during-build"))  # commits after the snapshot
        gone = result[0][0]
        await db.remove_track(GUILD, int(gone))
        added.append(int(gone))
        return result

    db.guild_embeddings = slow_snapshot
    try:
        first, second = await asyncio.gather(cache.get(GUILD), cache.get(GUILD))
    finally:
        db.guild_embeddings = real
    assert first is second  # one build for concurrent callers
    assert added[0].id in first and added[1] not in first and len(first) == 10


async def test_cache_model_version_filter_and_invalidate(db):
    a = await add(db, GUILD, "v1-track", model_version="m1")
    b = await add(db, GUILD, "v2-track", model_version="m2")
    cache = IndexCache(db, model_version="m2")
    index = await cache.get(GUILD)
    assert b.id in index and a.id not in index
    await db.put_analysis(make_analysis("v1-track", model_version="m2"))  # reindexed
    assert a.id in index
    await db.put_analysis(make_analysis("v2-track", model_version="m3"))  # another model
    assert b.id not in index
    cache.invalidate(GUILD)
    rebuilt = await cache.get(GUILD)
    assert rebuilt is not index and a.id in rebuilt and b.id not in rebuilt


async def test_cache_evicts_least_recently_used(db):
    for g in (1, 2, 3):
        for i in range(5):
            await add(db, g, f"lru{g}-{i}")
    cache = IndexCache(db, max_vectors=10)
    await cache.get(1)
    await cache.get(2)
    await cache.get(1)
    await cache.get(3)
    assert cache.cached_guilds() == [1, 3]
    assert len(await cache.get(2)) == 5  # rebuilt on demand


async def test_cache_large_guild_uses_worker_thread_and_ann(db):
    mat = clustered(300, seed=31)
    for i in range(300):
        rec = make_analysis(f"big{i}")
        rec = type(rec)(rec.content_hash, "m1", mat[i], 1.0)
        await db.put_analysis(rec)
        await db.add_track(GUILD, rec.content_hash, f"big{i}", "file", f"/b/{i}", None)
    cache = IndexCache(db, approx_threshold=100, offload_above=50)
    index = await cache.get(GUILD)
    assert index.backend == "faiss-ivf" and len(index) == 300
    ids, m = await db.guild_embeddings(GUILD)
    assert recall(index, ids, m, clustered(20, seed=32)) >= 0.95
    hits = await cache.search(GUILD, m[0], 3, exclude_ids={int(ids[0])})
    assert len(hits) == 3 and int(ids[0]) not in {i for i, _ in hits}


async def test_cache_defers_the_switch_to_approximate_to_a_rebuild(db):
    for i in range(40):
        await add(db, GUILD, f"grow{i}")
    cache = IndexCache(db, approx_threshold=40)
    index = await cache.get(GUILD)
    assert index.backend == "exact" and len(index) == 40
    late = await add(db, GUILD, "grow-past")  # would cross the threshold: dropped, not trained
    assert GUILD not in cache.cached_guilds()
    rebuilt = await cache.get(GUILD)
    assert rebuilt.backend == "faiss-ivf" and len(rebuilt) == 41 and late.id in rebuilt
    assert (await cache.search(GUILD, late.embedding, 1))[0][0] == late.id


def test_without_faiss_large_catalogs_stay_exact(monkeypatch):
    import storage.vectors as vectors

    monkeypatch.setattr(vectors, "_have_faiss", lambda: False)
    mat = clustered(300, seed=41)
    ids = np.arange(300, dtype=np.int64)
    index = VectorIndex.build(ids, mat, approx_threshold=100)
    assert index.backend == "exact"
    index.add([1000], mat[0])
    assert index.backend == "exact" and len(index) == 301
    assert_same(
        index.search(mat[5], 5), brute(np.append(ids, 1000), np.vstack([mat, mat[0]]), mat[5], 5)
    )
