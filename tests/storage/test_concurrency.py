from __future__ import annotations

import asyncio
import random

from storage import Database
from tests.storage.conftest import add

GUILD = 42


async def test_200_concurrent_like_unlike_match_sequential_model(db_path):
    async with Database.open(db_path) as db:
        tracks = [await add(db, GUILD, f"c{i}") for i in range(8)]
        rng = random.Random(7)
        ops = [
            (rng.choice(("like", "unlike")), rng.randrange(5), rng.choice(tracks).id)
            for _ in range(200)
        ]

        async def run(op, user, track_id):
            fn = db.like if op == "like" else db.unlike
            return await fn(GUILD, user, track_id)

        results = await asyncio.gather(*(run(*op) for op in ops))

        # The sequential model: one writer, operations applied in the order issued.
        liked: set[tuple[int, int]] = set()
        expected = []
        for op, user, track_id in ops:
            key = (user, track_id)
            if op == "like":
                expected.append(key not in liked)
                liked.add(key)
            else:
                expected.append(key in liked)
                liked.discard(key)
        assert results == expected

        async def snapshot(database):
            return {
                (user, tid)
                for user in range(5)
                for tid in await database.liked_track_ids(GUILD, user)
            }

        assert await snapshot(db) == liked
        for user in range(5):
            n = sum(1 for u, _ in liked if u == user)
            assert await db.count_likes(GUILD, user) == n
            assert len(await db.list_likes(GUILD, user, limit=None)) == n

        # reads interleaved with writes never fail or see half a transaction
        mixed = [run("like", 9, t.id) for t in tracks] + [db.count_likes(GUILD, 9) for _ in tracks]
        counts = (await asyncio.gather(*mixed))[len(tracks) :]
        assert all(0 <= c <= len(tracks) for c in counts)

    async with Database.open(db_path) as db:
        assert await snapshot(db) == liked


async def test_two_connections_share_the_file(db_path):
    """A second process (e.g. the CLI while the bot runs) waits for the write lock, no errors."""
    async with Database.open(db_path) as a, Database.open(db_path) as b:
        tracks = [await add(a, GUILD, f"two{i}") for i in range(10)]
        await asyncio.gather(
            *(a.like(GUILD, 1, t.id) for t in tracks), *(b.like(GUILD, 2, t.id) for t in tracks)
        )
        assert await b.count_likes(GUILD, 1) == 10
        assert await a.count_likes(GUILD, 2) == 10
