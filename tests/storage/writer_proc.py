"""A child process for the durability tests: writes to the database until it is SIGKILLed.

python writer_proc.py DB_PATH batches BATCH_SIZE COMMITS
    analyses h0..h{B-1}; then batches i = 0, 1, ... each inserting B tracks in guild i in one
    transaction ("COMMITTED i" after each commit). After COMMITS batches it opens one more
    transaction, inserts far more rows than the page cache holds (so uncommitted pages are
    spilled to the WAL file), prints "MID i" and keeps writing inside that transaction.
python writer_proc.py DB_PATH likes SEED
    like/unlike through the public API in a tight loop, "ACK n" after op n returned.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from storage import AnalysisRecord, Database  # noqa: E402


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def like_ops(seed: int, n: int = 1_000_000):
    """The deterministic op stream shared with the test: (op, user, track index)."""
    rng = random.Random(seed)
    for _ in range(n):
        yield rng.choice(("like", "unlike")), rng.randrange(4), rng.randrange(6)


async def batches(db: Database, batch_size: int, commits: int) -> None:
    for j in range(batch_size):
        emb = np.ones(8, np.float32) / np.sqrt(8)
        await db.put_analysis(AnalysisRecord(f"h{j}", "m1", emb, 1.0))
    async with db._lock:
        await db._conn.execute("PRAGMA cache_size = 8")  # tiny cache: spill dirty pages early
    i = 0
    while True:
        async with db._write() as conn:
            await conn.executemany(
                "INSERT INTO tracks (guild_id, content_hash, title, source_kind, source_url, "
                "added_by, added_at) VALUES (?, ?, ?, 'file', ?, 1, 0)",
                [(i, f"h{j}", "x" * 200, f"/f/{i}/{j}") for j in range(batch_size)],
            )
            if i == commits:
                say(f"MID {i}")
                k = 0
                while True:  # never commits
                    k += 1
                    await conn.execute(
                        "INSERT INTO recommendations (guild_id, user_id, track_id, "
                        "recommended_at) SELECT guild_id, ?, id, 0 FROM tracks WHERE guild_id = ?",
                        (k, i),
                    )
        say(f"COMMITTED {i}")
        i += 1


async def likes(db: Database, seed: int) -> None:
    ids = []
    for j in range(6):
        emb = np.ones(8, np.float32) / np.sqrt(8)
        rec = await db.put_analysis(AnalysisRecord(f"l{j}", "m1", emb, 1.0))
        track, _ = await db.add_track(1, rec.content_hash, f"t{j}", "file", f"/t{j}", None)
        ids.append(track.id)
    say("READY " + ",".join(map(str, ids)))
    for n, (op, user, t) in enumerate(like_ops(seed)):
        if op == "like":
            await db.like(1, user, ids[t])
        else:
            await db.unlike(1, user, ids[t])
        say(f"ACK {n}")


async def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    db = await Database.open(path)
    if mode == "batches":
        await batches(db, int(sys.argv[3]), int(sys.argv[4]))
    else:
        await likes(db, int(sys.argv[3]))


if __name__ == "__main__":
    asyncio.run(main())
