"""Likes: who liked which track of a guild's catalog."""

from __future__ import annotations

from storage.core import DatabaseCore
from storage.records import (
    TrackRecord,
)
from storage.rows import (
    TRACK_COLUMNS,
    require_track,
    track_from_row,
)

__all__ = ["Likes"]


class Likes(DatabaseCore):
    """Like, unlike, and read likes (a user's, and a guild's most liked)."""

    async def like(self, guild_id: int, user_id: int, track_id: int) -> bool:
        """Like a track of this guild. True if new; liking twice is one like."""
        async with self._write() as conn:
            await require_track(conn, guild_id, track_id)
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
            f"SELECT {TRACK_COLUMNS} FROM likes AS l "
            "JOIN tracks AS t ON t.id = l.track_id AND t.guild_id = l.guild_id "
            "JOIN analyses AS a ON a.content_hash = t.content_hash "
            "WHERE l.guild_id = ? AND l.user_id = ? "
            "ORDER BY l.created_at DESC, l.track_id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, -1 if limit is None else int(limit), int(offset)),
        )
        return [track_from_row(r) for r in rows]

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
            f"SELECT {TRACK_COLUMNS}, c.likes FROM "
            "(SELECT track_id, COUNT(*) AS likes, MAX(created_at) AS last FROM likes "
            " WHERE guild_id = ? GROUP BY track_id ORDER BY likes DESC, last DESC, track_id "
            " LIMIT ?) AS c "
            "JOIN tracks AS t ON t.id = c.track_id "
            "JOIN analyses AS a ON a.content_hash = t.content_hash "
            "ORDER BY c.likes DESC, c.last DESC, c.track_id",
            (guild_id, int(n)),
        )
        return [(track_from_row(r), int(r["likes"])) for r in rows]
