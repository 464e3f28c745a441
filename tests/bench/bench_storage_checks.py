"""What the database checks of issue 9 cost: noticing other processes' writes before serving from
a cache (``PRAGMA data_version``, once per /recommend and per "More like this"), and checking the
whole file when ``earworm run`` starts (``PRAGMA quick_check``, ``Database.open(verify=True)``).

Run from the repository root::

    python tests/bench/bench_storage_checks.py                 # 1k, 10k and 100k tracks
    python tests/bench/bench_storage_checks.py --sizes 1000 --repeats 5

For each catalog size it builds a database of that many tracks (200-d embeddings, a like per
ten tracks) under ``--dir`` (default: a temp folder), then reports medians over ``--repeats``
runs of: one ``notice_external_writes()`` with nothing new, one after another connection
committed, a plain read of the same cost class for scale (``count_tracks``), the time to open
with and without ``verify``, and the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from storage import Database  # noqa: E402


async def build(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    async with Database.open(path) as db, db._write() as conn:
        emb = rng.normal(size=(n, 200)).astype("<f4")
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        await conn.executemany(
            "INSERT INTO analyses (content_hash, model_version, duration_s, genres, dim, "
            "embedding, created_at) VALUES (?, 'm1', 30, '{\"jazz\": 1}', 200, ?, 0)",
            [(f"{i:064x}", emb[i].tobytes()) for i in range(n)],
        )
        await conn.executemany(
            "INSERT INTO tracks (guild_id, content_hash, title, source_kind, source_url, "
            "added_by, added_at) VALUES (1, ?, ?, 'file', ?, 7, 0)",
            [(f"{i:064x}", f"track {i}", f"/music/{i}.ogg") for i in range(n)],
        )
        await conn.execute(
            "INSERT INTO likes (guild_id, user_id, track_id, created_at) "
            "SELECT 1, id % 100, id, 0 FROM tracks WHERE id % 10 = 0"
        )


async def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def measure(path: Path, repeats: int) -> dict[str, float]:
    out: dict[str, float] = {}
    async with Database.open(path) as db, Database.open(path) as other:
        out["notice, nothing new (ms)"] = await timed(db.notice_external_writes, repeats * 20)

        async def after_a_commit() -> None:
            await other.set_track_source(1, 1, "/music/0.ogg")
            t0 = time.perf_counter()
            assert await db.notice_external_writes()
            after_a_commit.took.append(time.perf_counter() - t0)

        after_a_commit.took = []
        for _ in range(repeats * 5):
            await after_a_commit()
        out["notice, after a commit (ms)"] = statistics.median(after_a_commit.took) * 1000
        out["count_tracks, for scale (ms)"] = await timed(lambda: db.count_tracks(1), repeats * 20)

    async def open_close(verify: bool) -> None:
        db = await Database.open(path, verify=verify)
        await db.close()

    out["open (ms)"] = await timed(lambda: open_close(False), repeats)
    out["open, verify=True (ms)"] = await timed(lambda: open_close(True), repeats)
    out["file (MB)"] = path.stat().st_size / 2**20
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"bench-{n}.db"
            await build(path, n)
            rows.append((n, await measure(path, args.repeats)))
    names = list(rows[0][1])
    print("tracks  " + "  ".join(f"{name:>28}" for name in names))
    for n, row in rows:
        print(f"{n:>6}  " + "  ".join(f"{row[name]:>28.3f}" for name in names))


if __name__ == "__main__":
    asyncio.run(main())
