"""A full disk, for real: the bot's database lives on a small tmpfs that the test fills up.

❤️ Like says the disk is full (not "Something went wrong"), /recommend still answers and says its
picks could not be remembered, and nothing saved before is lost: once space is freed the same
click works and the file passes SQLite's integrity check. The real bot, the fake Discord, real
workers. (Where no tmpfs can be mounted, tests/bot/service/test_storage_full.py makes SQLite
report the same SQLITE_FULL through ``PRAGMA max_page_count``.)"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fetch import FetchLimits
from bot.service.app import EarwormService
from bot.service.engine import EngineConfig
from bot.service.errors import HISTORY_NOT_SAVED
from tests.bot.test_e2e_likes import classify, reply_to
from tests.fake_discord import FakeDiscord
from tests.fake_discord.seed import seed_catalog

DISK_FULL = "The server's disk is full, so I couldn't save that."


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted for this test (needs root with CAP_SYS_ADMIN, as in CI)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)]
    try:
        mounted = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        pytest.skip(f"no mount command ({exc}); the max_page_count tests cover SQLITE_FULL")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte; returns it (delete it to free space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


async def test_like_and_recommend_on_a_full_disk(fake_discord, small_disk, running_bot):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice, bob = fake.user("alice"), fake.user("bob")
    db_path = small_disk / "earworm.db"
    service = await EarwormService.open(
        db_path, EngineConfig(workers=1, job_timeout_s=60), FetchLimits(allow_private=True)
    )
    tracks = await seed_catalog(service, guild.id, ["vibe_ace", "hungarian_dance_5"])
    await service.like(guild.id, alice.id, tracks["vibe_ace"].id)
    running = await running_bot(service)
    result = await classify(fake, "alice", "solo_trumpet")
    custom_id = next(
        c["custom_id"]
        for row in result["components"]
        for c in row["components"]
        if c["custom_id"].startswith("earworm:like:")
    )

    filler = fill(small_disk)
    with running.expecting_errors():
        # ❤️ Like: told what happened, privately.
        ix = await fake.click(bob, result, custom_id)
        reply = await reply_to(fake, ix)
        assert reply["ephemeral"] and reply["content"].startswith(DISK_FULL), reply["content"]
        assert "tell the bot's admin" in reply["content"]

        # /recommend: the playlist still comes, with a line saying it could not be remembered.
        ix = await fake.slash(alice, guild, "music", "recommend", options={"count": 2})
        msg = await fake.wait_for_original(ix, timeout=30)
        description = msg["embeds"][0]["description"]
        assert "**1.**" in description
        assert HISTORY_NOT_SAVED.split(":")[0] in description.replace("\\", "")

        # The admin's log says which file and what to do, in one line each.
        logged = [r.getMessage() for r in running.errors]
        assert logged and all("is full" in m and str(db_path) in m for m in logged), logged
        running.errors.clear()

    # Nothing saved before was lost, and nothing half-saved appeared.
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM recommendations").fetchone()[0] == 0
    assert await service.db.is_liked(guild.id, alice.id, tracks["vibe_ace"].id)
    assert not await service.db.is_liked(guild.id, bob.id, int(custom_id.rsplit(":", 1)[1]))
    assert await service.db.count_tracks(guild.id) == 3

    # Space freed: the same click works.
    filler.unlink()
    ix = await fake.click(bob, result, custom_id)
    assert (await reply_to(fake, ix))["content"].startswith("❤️ Added to your likes.")
    await running.stop()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM likes").fetchone()[0] == 2
