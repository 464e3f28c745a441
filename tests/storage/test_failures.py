"""Circumstances, not bugs: a full disk, a damaged or foreign file, a newer schema, a missing folder
come out of the storage layer as StorageErrors that name the file and say what to do; what was
committed before survives. And writes by another connection are noticed (data_version)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from storage import (
    Database,
    DatabaseCorrupt,
    DatabaseUnavailable,
    ExternalChange,
    SchemaTooNewError,
    StorageError,
    StorageFull,
)
from tests.storage.conftest import add


async def set_max_pages(db: Database, pages: int | None = None) -> int:
    """Cap the file at ``pages`` (default: its size now): SQLite then fails any write that needs
    a new page with SQLITE_FULL, exactly as on a full disk."""
    async with db._read() as conn:
        if pages is None:
            async with conn.execute("PRAGMA page_count") as cur:
                (pages,) = await cur.fetchone()
        async with conn.execute(f"PRAGMA max_page_count = {int(pages)}") as cur:
            (now,) = await cur.fetchone()
    return int(now)


async def test_a_full_database_says_so_and_keeps_every_acknowledged_write(db, db_path):
    track = await add(db, 1, "song")
    await set_max_pages(db)
    acknowledged = 0
    with pytest.raises(StorageFull) as caught:
        for user in range(100_000):  # until the pages are full: one more like needs a new one
            await db.like(1, user, track.id)
            acknowledged += 1
    message = str(caught.value)
    assert str(db_path) in message and "is full" in message and "Free some space" in message
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)  # the detail is kept

    # The failed write left nothing behind, the earlier ones are all there, and the
    # connection is usable: reads work, and writes work again once there is room.
    assert acknowledged > 0
    assert await db.count_tracks(1) == 1
    assert sum([await db.is_liked(1, u, track.id) for u in range(acknowledged + 1)]) == acknowledged
    await set_max_pages(db, 1_000_000)
    assert await db.like(1, acknowledged, track.id)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_damage_is_found_when_read_and_by_verify_when_opened(db_path):
    async with Database.open(db_path) as db:
        for i in range(30):
            await add(db, 1, f"t{i}")
    with sqlite3.connect(db_path) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'tracks'"
        ).fetchone()
        (page,) = conn.execute("PRAGMA page_size").fetchone()
    with open(db_path, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\xab" * page)

    async with Database.open(db_path) as db:  # the damage is in a page opening does not read
        with pytest.raises(DatabaseCorrupt, match="damaged") as caught:
            await db.list_tracks(1)
        assert str(db_path) in str(caught.value) and "backup" in str(caught.value)
    with pytest.raises(DatabaseCorrupt, match="quick_check"):
        await Database.open(db_path, verify=True)


async def test_files_that_cannot_be_opened_say_why(tmp_path):
    foreign = tmp_path / "notes.db"
    foreign.write_text("shopping list\n" * 500)
    with pytest.raises(DatabaseCorrupt, match="not an Earworm database"):
        await Database.open(foreign)

    newer = tmp_path / "newer.db"
    async with Database.open(newer):
        pass
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (42, 'future', 0)")
    with pytest.raises(SchemaTooNewError, match="newer Earworm") as caught:
        await Database.open(newer)
    assert str(newer) in str(caught.value)

    missing = tmp_path / "no" / "such" / "folder" / "earworm.db"
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        await Database.open(missing)


def test_a_failed_open_leaves_no_thread_behind(tmp_path):
    """aiosqlite stops its thread after a failed connect by posting to the event loop; the
    open must let that finish, or the thread dies with "Event loop is closed" after
    asyncio.run returns (what `earworm` printed under its own traceback)."""
    errors: list[BaseException] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        with pytest.raises(StorageError):
            asyncio.run(_open(tmp_path / "missing" / "x.db"))
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join(5)
    finally:
        threading.excepthook = old_hook
    assert errors == []


async def test_commits_by_another_connection_are_noticed(db_path):
    async with Database.open(db_path) as mine, Database.open(db_path) as theirs:
        seen: list[object] = []
        mine.subscribe(seen.append)
        assert not await mine.notice_external_writes()
        await add(mine, 1, "own write")  # our own commits are not "external"
        seen.clear()
        assert not await mine.notice_external_writes()

        await add(theirs, 1, "their write")
        assert await mine.notice_external_writes()
        assert [type(e) for e in seen] == [ExternalChange]
        assert not await mine.notice_external_writes()  # once per change
        assert await mine.count_tracks(1) == 2


async def _open(path: Path) -> None:
    await Database.open(path)
