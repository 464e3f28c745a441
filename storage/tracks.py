"""Tracks: each guild's catalog entries, their embeddings and the catalog's statistics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from storage.core import DatabaseCore
from storage.records import (
    SOURCE_KINDS,
    CatalogStats,
    SourceKind,
    TrackAdded,
    TrackRecord,
    TrackRemoved,
    UnknownAnalysisError,
)
from storage.rows import (
    TRACK_COLUMNS,
    TRACK_FROM,
    track_from_row,
)

__all__ = ["Tracks"]


class Tracks(DatabaseCore):
    """A guild's catalog: add, find, list, remove, embeddings, statistics."""

    async def add_track(
        self,
        guild_id: int,
        content_hash: str,
        title: str,
        source_kind: SourceKind,
        source_url: str | None,
        added_by: int | None,
    ) -> tuple[TrackRecord, bool]:
        """Add audio (already analyzed) to a guild's catalog. Returns (track, created);
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
                f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} "
                "WHERE t.guild_id = ? AND t.content_hash = ?",
                (guild_id, content_hash),
            ) as cur:
                track = track_from_row(await cur.fetchone())
        if created:
            self._emit([TrackAdded(guild_id, track.id, track.model_version, track.embedding)])
        return track, created

    async def get_track(self, guild_id: int, track_id: int) -> TrackRecord | None:
        row = await self._one(
            f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} WHERE t.guild_id = ? AND t.id = ?",
            (guild_id, track_id),
        )
        return None if row is None else track_from_row(row)

    async def get_tracks(self, guild_id: int, track_ids: Iterable[int]) -> list[TrackRecord]:
        """The guild's tracks among ``track_ids``, in the order given (missing ones skipped)."""
        ids = [int(i) for i in track_ids]
        if not ids:
            return []
        rows = await self._all(
            f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} "
            "WHERE t.guild_id = ? AND t.id IN (SELECT value FROM json_each(?))",
            (guild_id, json.dumps(ids)),
        )
        by_id = {r["id"]: track_from_row(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    async def find_track_by_content(self, guild_id: int, content_hash: str) -> TrackRecord | None:
        row = await self._one(
            f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} WHERE t.guild_id = ? AND t.content_hash = ?",
            (guild_id, content_hash),
        )
        return None if row is None else track_from_row(row)

    async def find_track_by_source(self, guild_id: int, source_url: str) -> TrackRecord | None:
        """The guild's most recently added track from this URL / jump link / path, if any."""
        row = await self._one(
            f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} "
            "WHERE t.guild_id = ? AND t.source_url = ? ORDER BY t.added_at DESC, t.id DESC LIMIT 1",
            (guild_id, source_url),
        )
        return None if row is None else track_from_row(row)

    async def list_tracks(
        self, guild_id: int, offset: int = 0, limit: int | None = None
    ) -> list[TrackRecord]:
        """The guild's catalog, newest first."""
        rows = await self._all(
            f"SELECT {TRACK_COLUMNS} FROM {TRACK_FROM} WHERE t.guild_id = ? "
            "ORDER BY t.added_at DESC, t.id DESC LIMIT ? OFFSET ?",
            (guild_id, -1 if limit is None else int(limit), int(offset)),
        )
        return [track_from_row(r) for r in rows]

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

        With ``model_version`` only tracks analyzed by that model (during a reindex the rest
        are not comparable). Raises ValueError if the embeddings have different dimensions.
        An empty catalog gives arrays of shape [0] and [0, 0].
        """
        where = "t.guild_id = ?" + (" AND a.model_version = ?" if model_version else "")
        params: tuple[Any, ...] = (guild_id, model_version) if model_version else (guild_id,)
        sql_from = f"FROM {TRACK_FROM} WHERE {where}"
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

    async def catalog_stats(self, guild_id: int) -> CatalogStats:
        async with self._read() as conn:
            async with conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(a.is_music), 0), COALESCE(SUM(a.duration_s), 0), "
                f"COUNT(DISTINCT t.added_by) FROM {TRACK_FROM} WHERE t.guild_id = ?",
                (guild_id,),
            ) as cur:
                count, music, duration, contributors = await cur.fetchone()
            async with conn.execute(
                f"SELECT g.key, SUM(g.value) FROM {TRACK_FROM}, json_each(a.genres) AS g "
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
            f"SELECT t.id, a.descriptors FROM {TRACK_FROM} WHERE t.guild_id = ?", (guild_id,)
        )
        return {int(r[0]): json.loads(r[1]) for r in rows}
