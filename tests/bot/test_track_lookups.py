"""A ❤️ and a ``/classify`` each look the track up once (issue 10).

The real bot against the fake Discord, the real service on a real SQLite file and real analysis
workers; every call of the database's track lookups is counted (a wrapper around each lookup
method of the one ``Database`` the service uses), and so is every SQL statement that reads the
``tracks`` table (SQLite's trace callback), for the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.bot.test_e2e_likes import HEART, classify, eventually, fixture
from tests.fake_discord import FakeDiscord
from tests.httpserver import serve_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: The Database methods that look catalog entries up.
LOOKUPS = ("find_track_by_source", "find_track_by_content", "get_track", "get_tracks", "list_tracks")
_READS_TRACKS = re.compile(r"^\s*SELECT\b.*\bFROM\s+tracks\b", re.IGNORECASE | re.DOTALL)


class LookupCounter:
    """Counts track lookups on one Database: ``calls`` (method names, in order) and
    ``selects`` (SQL statements reading ``tracks``)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.calls: list[str] = []
        self.selects: list[str] = []
        self.counting = False
        for name in LOOKUPS:
            setattr(db, name, self._counted(name, getattr(db, name)))

    def _counted(self, name: str, method: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            if self.counting:
                self.calls.append(name)
            return await method(*args, **kwargs)

        return counted

    def _trace(self, sql: str) -> None:  # in the database's thread
        if self.counting and _READS_TRACKS.match(sql):
            self.selects.append(" ".join(sql.split())[:80])

    async def install(self) -> None:
        await self.db._conn.set_trace_callback(self._trace)

    @contextmanager
    def measure(self) -> Iterator[LookupCounter]:
        self.calls.clear()
        self.selects.clear()
        self.counting = True
        try:
            yield self
        finally:
            self.counting = False


async def test_a_heart_looks_the_track_up_once(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    db = earworm_service.db
    counter = LookupCounter(db)
    await counter.install()
    await running_bot(earworm_service)
    alice, carol = fake.user("alice").id, fake.user("carol").id

    # A ❤️ on a new upload: looked up once, downloaded, analyzed, added and liked.
    posted = await fake.post_user_message(
        "bob", "music", "new demo", attachments=[("demo.ogg", fixture("solo_trumpet.ogg"))]
    )
    with counter.measure():
        await fake.react("alice", posted, HEART)
        (track,) = await eventually(fake, lambda: db.list_likes(guild.id, alice), "alice's like")
    print("heart, new upload:", counter.calls, counter.selects)
    assert counter.calls == ["find_track_by_source"]

    # A second ❤️ on it: the track is found, nothing else is looked up.
    with counter.measure():
        await fake.react("carol", posted, HEART)
        await eventually(fake, lambda: db.is_liked(guild.id, carol, track.id), "carol's like")
    print("heart, known upload:", counter.calls, counter.selects)
    assert counter.calls == ["find_track_by_source"]

    # A ❤️ on a message with a link: the same, one lookup.
    with serve_directory(FIXTURES) as base_url:
        linked = await fake.post_user_message("bob", "music", f"try <{base_url}/vibe_ace.ogg>")
        with counter.measure():
            await fake.react("carol", linked, HEART)
            await eventually(fake, lambda: _likes(db, guild.id, carol, 2), "carol's link like")
    print("heart, new link:", counter.calls, counter.selects)
    assert counter.calls == ["find_track_by_source"]


async def test_classify_looks_the_track_up_once(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    counter = LookupCounter(earworm_service.db)
    await counter.install()
    await running_bot(earworm_service)

    with serve_directory(FIXTURES) as base_url:
        link = f"{base_url}/hungarian_dance_5.ogg"
        for what in ("new link", "known link"):
            with counter.measure():
                ix = await fake.slash("alice", guild, "music", "classify", options={"link": link})
                await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=60)
            print(f"classify, {what}:", counter.calls, counter.selects)
            assert counter.calls == ["find_track_by_source"], what

    with counter.measure():
        await classify(fake, "bob", "solo_trumpet")
    print("classify, file:", counter.calls, counter.selects)
    assert counter.calls == ["find_track_by_source"]


async def _likes(db: Any, guild_id: int, user_id: int, n: int) -> bool:
    return len(await db.list_likes(guild_id, user_id)) == n
