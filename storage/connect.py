"""Open the SQLite file: WAL, foreign keys, migrations, and a clear error when the file is unusable.

Every way the file can be unusable (missing folder, read-only file or folder, damaged or foreign
file, a schema newer than this Earworm, a full disk) raises a
:class:`~storage.records.StorageError` whose message names the file and what to do
(see :mod:`storage.failures`); nothing is left running behind it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from os import PathLike

import aiosqlite

from storage.failures import access_problem, damaged, sqlite_errors
from storage.migrate import apply_migrations, load_migrations
from storage.records import StorageError

log = logging.getLogger(__name__)

SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})


async def open_connection(
    path: str | PathLike[str],
    *,
    busy_timeout_ms: int,
    synchronous: str,
    verify: bool = False,
) -> aiosqlite.Connection:
    """A migrated connection in autocommit mode. ``verify``: run ``PRAGMA quick_check`` first
    (time proportional to the file's size) and refuse a damaged file before serving from it."""
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
    migrations = load_migrations()  # fail on a broken install before touching the file
    where = str(path)
    conn = aiosqlite.connect(
        path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
    )
    try:
        with sqlite_errors(where):
            await conn
    except BaseException:
        # aiosqlite stops its thread after a failed connect by posting to this loop: let it
        # finish while the loop still runs (else it raises "Event loop is closed" later).
        thread = getattr(conn, "_thread", None)
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join, 5.0)
        raise
    try:
        with sqlite_errors(where):
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # Earworm always writes (likes, history): refuse a read-only file or folder now,
            # not at the first like.
            problem = access_problem(where, "found when opening it")
            if problem is not None:
                raise problem
            if verify:
                async with conn.execute("PRAGMA quick_check(1)") as cur:
                    (verdict,) = await cur.fetchone()
                if verdict != "ok":
                    raise damaged(where, f"quick_check: {verdict}")
            async with conn.execute("PRAGMA journal_mode = WAL") as cur:
                mode = (await cur.fetchone())[0]
            if mode.lower() not in ("wal", "memory"):
                said = f"the journal mode stays {mode!r}"
                raise access_problem(where, said) or StorageError(
                    f"could not switch the database {where} to WAL mode ({said})"
                )
            await conn.execute(f"PRAGMA synchronous = {synchronous}")
            await conn.execute("PRAGMA foreign_keys = ON")
            async with conn.execute("PRAGMA foreign_keys") as cur:
                if (await cur.fetchone())[0] != 1:
                    raise StorageError("this SQLite build does not enforce foreign keys")
            applied = await apply_migrations(conn, migrations, where)
        if applied:
            log.info("database %s migrated to version %d", where, applied[-1])
    except BaseException:
        await conn.close()
        raise
    return conn
