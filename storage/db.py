"""The Earworm database: one SQLite file through one aiosqlite connection.

Usage::

    async with Database.open("earworm.db") as db:
        await db.put_analysis(record)
        track, created = await db.add_track(guild_id, record.content_hash, "Title", "link", url, uid)

or ``db = await Database.open(path)`` ... ``await db.close()``.

Concurrency model: SQLite allows one writer at a time, and one connection is one thread in
aiosqlite, so every operation, read or write, runs under one ``asyncio.Lock``. A write is one
``BEGIN IMMEDIATE ... COMMIT`` transaction that nothing else can interleave with, and a read never
sees another coroutine's half-done transaction. Each method returns only after its transaction
has committed: a like that was acknowledged survives a restart.

Durability: WAL journal, ``synchronous=NORMAL``. A process killed at any point (SIGKILL, crash)
loses nothing that was committed and leaves no trace of a transaction that was not; an OS crash
or power cut may lose the last few commits (never corrupt the file). Pass ``synchronous="FULL"``
where that matters more than write latency.

Isolation between servers: every catalog query takes ``guild_id``; likes, recommendations and
parties reference tracks by (track id, guild id), so the schema itself refuses cross-guild rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from os import PathLike
from typing import Any

import aiosqlite
import numpy as np

from storage.connect import open_connection
from storage.failures import sqlite_errors
from storage.records import (
    SOURCE_KINDS,
    AnalysisRecord,
    AnalysisReplaced,
    CatalogStats,
    ExternalChange,
    ForgetReport,
    PartyExistsError,
    PartyMember,
    PartyNotFoundError,
    PartyRecord,
    SourceKind,
    StaleAnalysis,
    StorageError,
    StorageEvent,
    TrackAdded,
    TrackNotFoundError,
    TrackRecord,
    TrackRemoved,
    TrackSource,
    UnknownAnalysisError,
    to_datetime,
    to_timestamp,
)

log = logging.getLogger(__name__)

Listener = Callable[[StorageEvent], None]

_TRACK_COLUMNS = (
    "t.id, t.guild_id, t.content_hash, t.title, t.source_kind, t.source_url, t.added_by, "
    "t.added_at, a.model_version, a.duration_s, a.genres, a.dim, a.embedding"
)
_TRACK_FROM = "tracks AS t JOIN analyses AS a ON a.content_hash = t.content_hash"
_PARTY_COLUMNS = "id, guild_id, channel_id, message_id, host_id, created_at, ended_at"


class Database:
    """Typed async access to the Earworm database. Create with ``await Database.open(path)``."""

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
        cls,
        path: str | PathLike[str],
        *,
        busy_timeout_ms: int = 5000,
        synchronous: str = "NORMAL",
        clock: Callable[[], float] = time.time,
        verify: bool = False,
    ) -> _Opener:
        """Open (creating and migrating as needed). Await it, or use it as ``async with``.

        An unusable file (damaged, read-only, newer schema, full disk...) raises a StorageError
        that says what to do (storage.failures); ``verify`` also checks the whole file first."""
        return _Opener(cls._open(path, busy_timeout_ms, synchronous, clock, verify))

    @classmethod
    async def _open(
        cls, path: str | PathLike[str], busy_timeout_ms: int, synchronous: str, clock, verify: bool
    ) -> Database:
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

    async def __aenter__(self) -> Database:
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

    # ---------------------------------------------------------------------------- analyses

    async def get_analysis(
        self, content_hash: str, model_version: str | None = None
    ) -> AnalysisRecord | None:
        """The stored analysis of this audio; None if there is none or it is of another model."""
        row = await self._one("SELECT * FROM analyses WHERE content_hash = ?", (content_hash,))
        if row is None or (model_version is not None and row["model_version"] != model_version):
            return None
        return _analysis(row)

    async def put_analysis(self, record: AnalysisRecord) -> AnalysisRecord:
        """Store an analysis, replacing any earlier one of the same audio (e.g. an older model).

        Returns the stored record (with ``created_at``). When an existing embedding changes,
        every catalog entry of that audio, in every guild, gets the new one (AnalysisReplaced).
        """
        emb = _check_embedding(record.embedding)
        if not record.content_hash:
            raise ValueError("content_hash is empty")
        if not record.model_version:
            raise ValueError("model_version is empty")
        if not (math.isfinite(record.duration_s) and record.duration_s >= 0):
            raise ValueError(f"bad duration_s {record.duration_s!r}")
        now = self._now()
        blob = emb.astype("<f4", copy=False).tobytes()
        events: list[StorageEvent] = []
        async with self._write() as conn:
            async with conn.execute(
                "SELECT model_version, embedding FROM analyses WHERE content_hash = ?",
                (record.content_hash,),
            ) as cur:
                old = await cur.fetchone()
            await conn.execute(
                """INSERT INTO analyses (content_hash, model_version, duration_s, is_music,
                       descriptors, genres, tags, timeline, extra, dim, embedding, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (content_hash) DO UPDATE SET
                       model_version = excluded.model_version, duration_s = excluded.duration_s,
                       is_music = excluded.is_music, descriptors = excluded.descriptors,
                       genres = excluded.genres, tags = excluded.tags,
                       timeline = excluded.timeline, extra = excluded.extra,
                       dim = excluded.dim, embedding = excluded.embedding,
                       created_at = excluded.created_at""",
                (
                    record.content_hash,
                    record.model_version,
                    float(record.duration_s),
                    int(bool(record.is_music)),
                    _json(record.descriptors),
                    _json(record.genres),
                    _json(record.tags),
                    _json(record.timeline),
                    _json(record.extra),
                    int(emb.shape[0]),
                    blob,
                    now,
                ),
            )
            if old is not None and (
                old["embedding"] != blob or old["model_version"] != record.model_version
            ):
                async with conn.execute(
                    "SELECT guild_id, id FROM tracks WHERE content_hash = ?", (record.content_hash,)
                ) as cur:
                    tracks = tuple((int(g), int(t)) for g, t in await cur.fetchall())
                if tracks:
                    events.append(
                        AnalysisReplaced(record.content_hash, record.model_version, emb, tracks)
                    )
            async with conn.execute(
                "SELECT * FROM analyses WHERE content_hash = ?", (record.content_hash,)
            ) as cur:
                stored = _analysis(await cur.fetchone())
        self._emit(events)
        return stored

    async def stale_analyses(
        self, current_model_version: str, limit: int | None = None
    ) -> list[StaleAnalysis]:
        """Analyses made by another model version than ``current_model_version`` (for reindex),
        each with the catalog entries (all guilds) whose source can be fetched again."""
        rows = await self._all(
            """SELECT a.content_hash, a.model_version, t.guild_id, t.id, t.source_kind,
                      t.source_url
               FROM (SELECT content_hash, model_version, created_at FROM analyses
                     WHERE model_version <> ? ORDER BY created_at, content_hash LIMIT ?) AS a
               LEFT JOIN tracks AS t ON t.content_hash = a.content_hash
               ORDER BY a.created_at, a.content_hash, t.added_at DESC""",
            (current_model_version, -1 if limit is None else int(limit)),
        )
        out: dict[str, tuple[str, list[TrackSource]]] = {}
        for r in rows:
            entry = out.setdefault(r["content_hash"], (r["model_version"], []))
            if r["id"] is not None:
                entry[1].append(
                    TrackSource(r["guild_id"], r["id"], r["source_kind"], r["source_url"])
                )
        return [StaleAnalysis(h, v, tuple(src)) for h, (v, src) in out.items()]

    async def delete_unused_analyses(self, older_than: datetime | None = None) -> int:
        """Delete analyses that no catalog entry uses (optionally only those older than a time)."""
        cutoff = math.inf if older_than is None else to_timestamp(older_than)
        async with self._write() as conn:
            cur = await conn.execute(
                """DELETE FROM analyses WHERE created_at < ? AND NOT EXISTS
                       (SELECT 1 FROM tracks WHERE tracks.content_hash = analyses.content_hash)""",
                (cutoff,),
            )
            return cur.rowcount

    # ---------------------------------------------------------------------------- tracks

    async def add_track(
        self,
        guild_id: int,
        content_hash: str,
        title: str,
        source_kind: SourceKind,
        source_url: str | None,
        added_by: int | None,
    ) -> tuple[TrackRecord, bool]:
        """Add audio (already analysed) to a guild's catalog. Returns (track, created);
        the same audio shared again in the same guild returns the existing entry, unchanged."""
        if source_kind not in SOURCE_KINDS:
            raise ValueError(
                f"source_kind must be one of {sorted(SOURCE_KINDS)}, not {source_kind!r}"
            )
        async with self._write() as conn:
            async with conn.execute(
                "SELECT 1 FROM analyses WHERE content_hash = ?", (content_hash,)
            ) as cur:
                if await cur.fetchone() is None:
                    raise UnknownAnalysisError(f"no analysis stored for {content_hash!r}")
            async with conn.execute(
                """INSERT INTO tracks (guild_id, content_hash, title, source_kind, source_url,
                                       added_by, added_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (guild_id, content_hash) DO NOTHING RETURNING id""",
                (guild_id, content_hash, title, source_kind, source_url, added_by, self._now()),
            ) as cur:
                created = await cur.fetchone() is not None
            async with conn.execute(
                f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} "
                "WHERE t.guild_id = ? AND t.content_hash = ?",
                (guild_id, content_hash),
            ) as cur:
                track = _track(await cur.fetchone())
        if created:
            self._emit([TrackAdded(guild_id, track.id, track.model_version, track.embedding)])
        return track, created

    async def get_track(self, guild_id: int, track_id: int) -> TrackRecord | None:
        row = await self._one(
            f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} WHERE t.guild_id = ? AND t.id = ?",
            (guild_id, track_id),
        )
        return None if row is None else _track(row)

    async def get_tracks(self, guild_id: int, track_ids: Iterable[int]) -> list[TrackRecord]:
        """The guild's tracks among ``track_ids``, in the order given (missing ones skipped)."""
        ids = [int(i) for i in track_ids]
        if not ids:
            return []
        rows = await self._all(
            f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} "
            "WHERE t.guild_id = ? AND t.id IN (SELECT value FROM json_each(?))",
            (guild_id, json.dumps(ids)),
        )
        by_id = {r["id"]: _track(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def find_track_by_content(self, guild_id: int, content_hash: str) -> TrackRecord | None:
        row = await self._one(
            f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} "
            "WHERE t.guild_id = ? AND t.content_hash = ?",
            (guild_id, content_hash),
        )
        return None if row is None else _track(row)

    async def find_track_by_source(self, guild_id: int, source_url: str) -> TrackRecord | None:
        """The guild's most recently added track from this URL / jump link / path, if any."""
        row = await self._one(
            f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} "
            "WHERE t.guild_id = ? AND t.source_url = ? ORDER BY t.added_at DESC, t.id DESC LIMIT 1",
            (guild_id, source_url),
        )
        return None if row is None else _track(row)

    async def list_tracks(
        self, guild_id: int, offset: int = 0, limit: int | None = None
    ) -> list[TrackRecord]:
        """The guild's catalog, newest first."""
        rows = await self._all(
            f"SELECT {_TRACK_COLUMNS} FROM {_TRACK_FROM} WHERE t.guild_id = ? "
            "ORDER BY t.added_at DESC, t.id DESC LIMIT ? OFFSET ?",
            (guild_id, -1 if limit is None else int(limit), int(offset)),
        )
        return [_track(r) for r in rows]

    async def count_tracks(self, guild_id: int) -> int:
        row = await self._one("SELECT COUNT(*) FROM tracks WHERE guild_id = ?", (guild_id,))
        return int(row[0])

    async def remove_track(self, guild_id: int, track_id: int) -> bool:
        """Remove a catalog entry with its likes and recommendation history (the analysis stays:
        it may be shared by other guilds). Returns False if there was no such track."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM tracks WHERE guild_id = ? AND id = ?", (guild_id, track_id)
            )
            removed = cur.rowcount > 0
        if removed:
            self._emit([TrackRemoved(guild_id, track_id)])
        return removed

    async def guild_embeddings(
        self, guild_id: int, model_version: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """All of a guild's embeddings: (track ids int64 [N], matrix float32 [N, D]), by id.

        With ``model_version`` only tracks analysed by that model (during a reindex the rest
        are not comparable). Raises ValueError if the embeddings have different dimensions.
        An empty catalog gives arrays of shape [0] and [0, 0].
        """
        where = "t.guild_id = ?" + (" AND a.model_version = ?" if model_version else "")
        params: tuple[Any, ...] = (guild_id, model_version) if model_version else (guild_id,)
        sql_from = f"FROM {_TRACK_FROM} WHERE {where}"
        async with self._read() as conn:
            async with conn.execute(
                f"SELECT COUNT(*), MIN(a.dim), MAX(a.dim) {sql_from}", params
            ) as cur:
                n, dmin, dmax = await cur.fetchone()
            if n == 0:
                return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
            if dmin != dmax:
                raise ValueError(
                    f"guild {guild_id} has embeddings of dimensions {dmin} and {dmax}: "
                    "pass model_version to pick one model's"
                )
            ids = np.empty(n, np.int64)
            mat = np.empty((n, dmin), np.float32)
            i = 0
            async with conn.execute(
                f"SELECT t.id, a.embedding {sql_from} ORDER BY t.id", params
            ) as cur:
                while rows := await cur.fetchmany(4096):
                    for tid, blob in rows:
                        ids[i] = tid
                        mat[i] = np.frombuffer(blob, dtype="<f4")
                        i += 1
        return ids[:i], mat[:i]

    # ---------------------------------------------------------------------------- likes

    async def like(self, guild_id: int, user_id: int, track_id: int) -> bool:
        """Like a track of this guild. True if new; liking twice is one like."""
        async with self._write() as conn:
            await _require_track(conn, guild_id, track_id)
            cur = await conn.execute(
                "INSERT INTO likes (guild_id, user_id, track_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (guild_id, user_id, track_id, self._now()),
            )
            return cur.rowcount > 0

    async def unlike(self, guild_id: int, user_id: int, track_id: int) -> bool:
        """Remove a like. True if there was one."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM likes WHERE guild_id = ? AND user_id = ? AND track_id = ?",
                (guild_id, user_id, track_id),
            )
            return cur.rowcount > 0

    async def is_liked(self, guild_id: int, user_id: int, track_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM likes WHERE guild_id = ? AND user_id = ? AND track_id = ?",
            (guild_id, user_id, track_id),
        )
        return row is not None

    async def list_likes(
        self, guild_id: int, user_id: int, offset: int = 0, limit: int | None = 50
    ) -> list[TrackRecord]:
        """A user's liked tracks in this guild, most recently liked first."""
        rows = await self._all(
            f"SELECT {_TRACK_COLUMNS} FROM likes AS l "
            "JOIN tracks AS t ON t.id = l.track_id AND t.guild_id = l.guild_id "
            "JOIN analyses AS a ON a.content_hash = t.content_hash "
            "WHERE l.guild_id = ? AND l.user_id = ? "
            "ORDER BY l.created_at DESC, l.track_id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, -1 if limit is None else int(limit), int(offset)),
        )
        return [_track(r) for r in rows]

    async def liked_track_ids(self, guild_id: int, user_id: int) -> set[int]:
        rows = await self._all(
            "SELECT track_id FROM likes WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return {int(r[0]) for r in rows}

    async def count_likes(self, guild_id: int, user_id: int) -> int:
        row = await self._one(
            "SELECT COUNT(*) FROM likes WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return int(row[0])

    async def popular_tracks(self, guild_id: int, n: int = 10) -> list[tuple[TrackRecord, int]]:
        """The guild's most liked tracks with their like counts (ties: most recently liked)."""
        rows = await self._all(
            f"SELECT {_TRACK_COLUMNS}, c.likes FROM "
            "(SELECT track_id, COUNT(*) AS likes, MAX(created_at) AS last FROM likes "
            " WHERE guild_id = ? GROUP BY track_id ORDER BY likes DESC, last DESC, track_id "
            " LIMIT ?) AS c "
            "JOIN tracks AS t ON t.id = c.track_id "
            "JOIN analyses AS a ON a.content_hash = t.content_hash "
            "ORDER BY c.likes DESC, c.last DESC, c.track_id",
            (guild_id, int(n)),
        )
        return [(_track(r), int(r["likes"])) for r in rows]

    # ---------------------------------------------------------------------------- recommendations

    async def record_recommendations(
        self,
        guild_id: int,
        user_id: int,
        track_ids: Iterable[int],
        at: datetime | None = None,
    ) -> int:
        """Remember that these tracks were recommended to the user. Ids that are not (or no
        longer) in the guild's catalog are skipped. Returns how many were recorded."""
        ts = self._now() if at is None else to_timestamp(at)
        params = [(guild_id, user_id, ts, int(t), guild_id) for t in track_ids]
        if not params:
            return 0
        async with self._write() as conn:
            before = conn.total_changes
            await conn.executemany(
                "INSERT INTO recommendations (guild_id, user_id, track_id, recommended_at) "
                "SELECT ?, ?, id, ? FROM tracks WHERE id = ? AND guild_id = ?",
                params,
            )
            return conn.total_changes - before

    async def recent_recommendations(
        self,
        guild_id: int,
        user_id: int,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[int]:
        """Distinct track ids recommended to the user since ``since`` (or ever), most recent
        first, at most ``limit`` of them (the last N)."""
        rows = await self._all(
            "SELECT track_id, MAX(recommended_at) AS last FROM recommendations "
            "WHERE guild_id = ? AND user_id = ? AND recommended_at >= ? "
            "GROUP BY track_id ORDER BY last DESC, track_id DESC LIMIT ?",
            (
                guild_id,
                user_id,
                -math.inf if since is None else to_timestamp(since),
                -1 if limit is None else int(limit),
            ),
        )
        return [int(r[0]) for r in rows]

    async def prune_recommendations(self, before: datetime) -> int:
        """Forget recommendation history older than ``before`` (retention). Returns rows deleted."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM recommendations WHERE recommended_at < ?", (to_timestamp(before),)
            )
            return cur.rowcount

    # ---------------------------------------------------------------------------- parties

    async def start_party(
        self, guild_id: int, channel_id: int, host_id: int, message_id: int | None = None
    ) -> PartyRecord:
        """Start a listening party in a channel; the host joins it. Raises PartyExistsError
        if the channel already has an active one."""
        now = self._now()
        async with self._write() as conn:
            async with conn.execute(
                f"SELECT {_PARTY_COLUMNS} FROM parties "
                "WHERE guild_id = ? AND channel_id = ? AND ended_at IS NULL",
                (guild_id, channel_id),
            ) as cur:
                existing = await cur.fetchone()
            if existing is not None:
                raise PartyExistsError(_party(existing))
            async with conn.execute(
                "INSERT INTO parties (guild_id, channel_id, message_id, host_id, created_at) "
                f"VALUES (?, ?, ?, ?, ?) RETURNING {_PARTY_COLUMNS}",
                (guild_id, channel_id, message_id, host_id, now),
            ) as cur:
                party = _party(await cur.fetchone())
            await conn.execute(
                "INSERT INTO party_members (party_id, user_id, joined_at) VALUES (?, ?, ?)",
                (party.id, host_id, now),
            )
        return party

    async def get_party(self, party_id: int) -> PartyRecord | None:
        row = await self._one(f"SELECT {_PARTY_COLUMNS} FROM parties WHERE id = ?", (party_id,))
        return None if row is None else _party(row)

    async def active_party(self, guild_id: int, channel_id: int) -> PartyRecord | None:
        row = await self._one(
            f"SELECT {_PARTY_COLUMNS} FROM parties "
            "WHERE guild_id = ? AND channel_id = ? AND ended_at IS NULL",
            (guild_id, channel_id),
        )
        return None if row is None else _party(row)

    async def set_party_message(self, party_id: int, message_id: int | None) -> bool:
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE parties SET message_id = ? WHERE id = ?", (message_id, party_id)
            )
            return cur.rowcount > 0

    async def join(self, party_id: int, user_id: int) -> bool:
        """Join an active party. True if newly joined. Raises PartyNotFoundError if the party
        does not exist or has ended."""
        async with self._write() as conn:
            async with conn.execute(
                "SELECT 1 FROM parties WHERE id = ? AND ended_at IS NULL", (party_id,)
            ) as cur:
                if await cur.fetchone() is None:
                    raise PartyNotFoundError(f"no active party {party_id}")
            cur = await conn.execute(
                "INSERT INTO party_members (party_id, user_id, joined_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (party_id, user_id, self._now()),
            )
            return cur.rowcount > 0

    async def leave(self, party_id: int, user_id: int) -> bool:
        """Leave a party. True if the user was a member."""
        async with self._write() as conn:
            cur = await conn.execute(
                "DELETE FROM party_members WHERE party_id = ? AND user_id = ?", (party_id, user_id)
            )
            return cur.rowcount > 0

    async def members(self, party_id: int) -> list[PartyMember]:
        """The party's members, in the order they joined."""
        rows = await self._all(
            "SELECT user_id, joined_at FROM party_members WHERE party_id = ? "
            "ORDER BY joined_at, user_id",
            (party_id,),
        )
        return [PartyMember(int(r[0]), to_datetime(r[1])) for r in rows]

    async def end_party(self, party_id: int) -> bool:
        """End a party (members are kept as history). False if it was not active."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE parties SET ended_at = MAX(?, created_at) WHERE id = ? AND ended_at IS NULL",
                (self._now(), party_id),
            )
            return cur.rowcount > 0

    # ---------------------------------------------------------------------------- users

    async def forget_user(self, user_id: int) -> ForgetReport:
        """Remove everything stored about a user, in every guild, in one transaction: likes,
        party memberships, recommendation history; the tracks they added stay in the catalogs
        (other people like them) with ``added_by`` unlinked, and parties they hosted lose
        their host."""
        async with self._write() as conn:
            likes = await _changes(conn, "DELETE FROM likes WHERE user_id = ?", (user_id,))
            members = await _changes(
                conn, "DELETE FROM party_members WHERE user_id = ?", (user_id,)
            )
            recs = await _changes(conn, "DELETE FROM recommendations WHERE user_id = ?", (user_id,))
            tracks = await _changes(
                conn, "UPDATE tracks SET added_by = NULL WHERE added_by = ?", (user_id,)
            )
            parties = await _changes(
                conn, "UPDATE parties SET host_id = NULL WHERE host_id = ?", (user_id,)
            )
        report = ForgetReport(likes, members, recs, tracks, parties)
        log.info("forgot user %s: %s", user_id, report)
        return report

    # ---------------------------------------------------------------------------- stats

    async def catalog_stats(self, guild_id: int) -> CatalogStats:
        async with self._read() as conn:
            async with conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(a.is_music), 0), COALESCE(SUM(a.duration_s), 0), "
                f"COUNT(DISTINCT t.added_by) FROM {_TRACK_FROM} WHERE t.guild_id = ?",
                (guild_id,),
            ) as cur:
                count, music, duration, contributors = await cur.fetchone()
            async with conn.execute(
                f"SELECT g.key, SUM(g.value) FROM {_TRACK_FROM}, json_each(a.genres) AS g "
                "WHERE t.guild_id = ? AND a.is_music = 1 AND g.type IN ('real', 'integer') "
                "GROUP BY g.key",
                (guild_id,),
            ) as cur:
                sums = {str(k): float(v) for k, v in await cur.fetchall()}
            async with conn.execute(
                "SELECT COUNT(*) FROM likes WHERE guild_id = ?", (guild_id,)
            ) as cur:
                (likes,) = await cur.fetchone()
        total = sum(sums.values())
        mix = {}
        if total > 0:
            mix = {k: v / total for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))}
        return CatalogStats(
            guild_id=guild_id,
            track_count=int(count),
            music_track_count=int(music),
            total_duration_s=float(duration),
            like_count=int(likes),
            contributor_count=int(contributors),
            genre_mix=mix,
        )

    async def set_track_source(self, guild_id: int, track_id: int, source_url: str | None) -> bool:
        """Point a catalog entry at where it can be found (e.g. the Discord message that shows it,
        known only after the message is posted)."""
        async with self._write() as conn:
            cur = await conn.execute(
                "UPDATE tracks SET source_url = ? WHERE guild_id = ? AND id = ?",
                (source_url, guild_id, track_id),
            )
            return cur.rowcount > 0

    async def track_descriptors(self, guild_id: int) -> dict[int, dict[str, Any]]:
        """{track id: its analysis' descriptors} for a guild (tempo and key for playlists)."""
        rows = await self._all(
            f"SELECT t.id, a.descriptors FROM {_TRACK_FROM} WHERE t.guild_id = ?", (guild_id,)
        )
        return {int(r[0]): json.loads(r[1]) for r in rows}


class _Opener:
    """What ``Database.open`` returns: awaitable, or usable as ``async with``."""

    def __init__(self, coro) -> None:
        self._coro = coro
        self._db: Database | None = None

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self) -> Database:
        self._db = await self._coro
        return self._db

    async def __aexit__(self, *exc: object) -> None:
        if self._db is not None:
            await self._db.close()


# -------------------------------------------------------------------------------- helpers


async def _require_track(conn: aiosqlite.Connection, guild_id: int, track_id: int) -> None:
    async with conn.execute(
        "SELECT 1 FROM tracks WHERE id = ? AND guild_id = ?", (track_id, guild_id)
    ) as cur:
        if await cur.fetchone() is None:
            raise TrackNotFoundError(f"no track {track_id} in guild {guild_id}")


async def _changes(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    cur = await conn.execute(sql, params)
    return cur.rowcount


def _check_embedding(embedding: Any) -> np.ndarray:
    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 1 or emb.shape[0] == 0:
        raise ValueError(f"embedding must be a non-empty 1-D vector, got shape {emb.shape}")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embedding has non-finite values")
    return emb


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return _clean(asdict(value))
    return value


def _json(value: Any) -> str:
    return json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _embedding(blob: bytes, dim: int) -> np.ndarray:
    emb = np.frombuffer(blob, dtype="<f4").astype(np.float32)  # own, writable copy
    if emb.shape[0] != dim:
        raise StorageError(f"stored embedding has {emb.shape[0]} values, expected {dim}")
    return emb


def _analysis(row: sqlite3.Row) -> AnalysisRecord:
    return AnalysisRecord(
        content_hash=row["content_hash"],
        model_version=row["model_version"],
        embedding=_embedding(row["embedding"], row["dim"]),
        duration_s=float(row["duration_s"]),
        genres=json.loads(row["genres"]),
        descriptors=json.loads(row["descriptors"]),
        tags=json.loads(row["tags"]),
        timeline=json.loads(row["timeline"]),
        is_music=bool(row["is_music"]),
        extra=json.loads(row["extra"]),
        created_at=to_datetime(row["created_at"]),
    )


def _track(row: sqlite3.Row) -> TrackRecord:
    return TrackRecord(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        content_hash=row["content_hash"],
        title=row["title"],
        source_kind=row["source_kind"],
        source_url=row["source_url"],
        added_by=row["added_by"],
        added_at=to_datetime(row["added_at"]),
        model_version=row["model_version"],
        duration_s=float(row["duration_s"]),
        genres=json.loads(row["genres"]),
        embedding=_embedding(row["embedding"], row["dim"]),
    )


def _party(row: sqlite3.Row) -> PartyRecord:
    return PartyRecord(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        message_id=row["message_id"],
        host_id=row["host_id"],
        created_at=to_datetime(row["created_at"]),
        ended_at=to_datetime(row["ended_at"]),
    )
