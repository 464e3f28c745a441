"""Recommendation history: what each user was recommended, so it is not offered again soon."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from storage.core import DatabaseCore
from storage.records import (
    to_timestamp,
)

__all__ = ["RecommendationHistory"]


class RecommendationHistory(DatabaseCore):
    """Record, read and prune what was recommended to whom."""

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
