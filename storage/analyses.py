"""Analyses: one per distinct audio (by content hash), shared by every guild's catalog."""

from __future__ import annotations

import math
from datetime import datetime

from storage.core import DatabaseCore
from storage.records import (
    AnalysisRecord,
    AnalysisReplaced,
    StaleAnalysis,
    StorageEvent,
    TrackSource,
    to_timestamp,
)
from storage.rows import (
    analysis_from_row,
    check_embedding,
    to_json,
)

__all__ = ["Analyses"]


class Analyses(DatabaseCore):
    """Stored analyses: get, put (replacing an older model's), stale ones, unused ones."""

    async def get_analysis(
        self, content_hash: str, model_version: str | None = None
    ) -> AnalysisRecord | None:
        """The stored analysis of this audio; None if there is none or it is of another model."""
        row = await self._one("SELECT * FROM analyses WHERE content_hash = ?", (content_hash,))
        if row is None or (model_version is not None and row["model_version"] != model_version):
            return None
        return analysis_from_row(row)

    async def put_analysis(self, record: AnalysisRecord) -> AnalysisRecord:
        """Store an analysis, replacing any earlier one of the same audio (e.g. an older model).

        Returns the stored record (with ``created_at``). When an existing embedding changes,
        every catalog entry of that audio, in every guild, gets the new one (AnalysisReplaced).
        """
        emb = check_embedding(record.embedding)
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
                    to_json(record.descriptors),
                    to_json(record.genres),
                    to_json(record.tags),
                    to_json(record.timeline),
                    to_json(record.extra),
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
                stored = analysis_from_row(await cur.fetchone())
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
