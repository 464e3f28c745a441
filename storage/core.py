"""The connection underneath ``Database``: opening, closing, change events, and the one-writer
transactions every query goes through (see ``storage.db`` for the concurrency model)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from os import PathLike
from typing import Any, Generic, Self, TypeVar

import aiosqlite

from storage.connect import open_connection
from storage.failures import sqlite_errors
from storage.records import (
    ExternalChange,
    StorageError,
    StorageEvent,
)

log = logging.getLogger(__name__)

__all__ = ["DatabaseCore", "Listener"]


Listener = Callable[[StorageEvent], None]

D = TypeVar("D", bound="DatabaseCore")  # Database, as opened through DatabaseCore.open


class DatabaseCore:
    """The connection, its lock and its listeners; the parts of ``Database`` build on it."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        path: str | PathLike[str] = "",
        clock: Callable[[], float] = time.time,
    ):
        self._conn = conn
        self.path = str(path)
        self._lock = asyncio.Lock()
        self._clock = clock
        self._listeners: list[Listener] = []
        self._closed = False
        self._data_version: int | None = None  # PRAGMA data_version when last looked at

    # ---------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls: type[D],
        path: str | PathLike[str],
        *,
        busy_timeout_ms: int = 5000,
        synchronous: str = "NORMAL",
        clock: Callable[[], float] = time.time,
        verify: bool = False,
    ) -> _Opener[D]:
        """Open (creating and migrating as needed). Await it, or use it as ``async with``.

        An unusable file (damaged, read-only, newer schema, full disk...) raises a StorageError
        that says what to do (storage.failures); ``verify`` also checks the whole file first."""
        return _Opener(cls._open(path, busy_timeout_ms, synchronous, clock, verify))

    @classmethod
    async def _open(
        cls: type[D],
        path: str | PathLike[str],
        busy_timeout_ms: int,
        synchronous: str,
        clock: Callable[[], float],
        verify: bool,
    ) -> D:
        conn = await open_connection(
            path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, verify=verify
        )
        db = cls(conn, path=path, clock=clock)
        try:
            db._data_version = int((await db._one("PRAGMA data_version"))[0])
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            try:
                await self._conn.execute("PRAGMA optimize")
            except sqlite3.Error:  # best effort
                pass
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0])

    # ---------------------------------------------------------------------------- events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` after each committed change to a catalog's vectors (and with
        an ExternalChange when ``notice_external_writes`` finds another connection's commits).

        Listeners run synchronously on the event loop, in commit order; an exception in one is
        logged and does not undo the (already committed) write. Returns an unsubscribe function.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def notice_external_writes(self) -> bool:
        """Whether another connection (e.g. ``earworm index`` in another process) committed
        since the last look; if so, listeners get an ExternalChange. One cheap PRAGMA: call it
        before serving from a cache built from the database."""
        version = int((await self._one("PRAGMA data_version"))[0])
        if version == self._data_version:
            return False
        self._data_version = version
        self._emit([ExternalChange(version)])
        return True

    def _emit(self, events: Iterable[StorageEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("storage listener %r failed on %r", listener, event)

    # ---------------------------------------------------------------------------- plumbing

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, serialised with everything else on this connection; rolled
        back on any failure, COMMIT's own included (a full disk fails at COMMIT in WAL mode)."""
        async with self._read() as conn:
            if conn.in_transaction:  # a rollback that was itself cancelled
                log.warning("rolling back a transaction left open by a cancelled write")
                await conn.execute("ROLLBACK")
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        await conn.execute("ROLLBACK")
                    except sqlite3.Error:  # keep the original error; the next write retries
                        log.warning("rollback failed", exc_info=True)
                raise

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, alone; SQLite failures come out as storage errors (storage.failures)."""
        if self._closed:
            raise StorageError("database is closed")
        async with self._lock:
            with sqlite_errors(self.path):
                yield self._conn

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._read() as conn, conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    def _now(self) -> float:
        return float(self._clock())


class _Opener(Generic[D]):
    """What ``Database.open`` returns: awaitable, or usable as ``async with``."""

    def __init__(self, coro: Coroutine[Any, Any, D]) -> None:
        self._coro = coro
        self._db: D | None = None

    def __await__(self) -> Generator[Any, None, D]:
        return self._coro.__await__()

    async def __aenter__(self) -> D:
        self._db = await self._coro
        return self._db

    async def __aexit__(self, *exc: object) -> None:
        if self._db is not None:
            await self._db.close()
