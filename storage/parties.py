"""Listening parties: one active party per channel, its members in the order they joined."""

from __future__ import annotations

from storage.core import DatabaseCore
from storage.records import (
    PartyExistsError,
    PartyMember,
    PartyNotFoundError,
    PartyRecord,
    to_datetime,
)
from storage.rows import (
    PARTY_COLUMNS,
    party_from_row,
)

__all__ = ["Parties"]


class Parties(DatabaseCore):
    """A party's lifecycle: start, join, leave, end, and its message."""

    async def start_party(
        self, guild_id: int, channel_id: int, host_id: int, message_id: int | None = None
    ) -> PartyRecord:
        """Start a listening party in a channel; the host joins it. Raises PartyExistsError
        if the channel already has an active one."""
        now = self._now()
        async with self._write() as conn:
            async with conn.execute(
                f"SELECT {PARTY_COLUMNS} FROM parties "
                "WHERE guild_id = ? AND channel_id = ? AND ended_at IS NULL",
                (guild_id, channel_id),
            ) as cur:
                existing = await cur.fetchone()
            if existing is not None:
                raise PartyExistsError(party_from_row(existing))
            async with conn.execute(
                "INSERT INTO parties (guild_id, channel_id, message_id, host_id, created_at) "
                f"VALUES (?, ?, ?, ?, ?) RETURNING {PARTY_COLUMNS}",
                (guild_id, channel_id, message_id, host_id, now),
            ) as cur:
                party = party_from_row(await cur.fetchone())
            await conn.execute(
                "INSERT INTO party_members (party_id, user_id, joined_at) VALUES (?, ?, ?)",
                (party.id, host_id, now),
            )
        return party

    async def get_party(self, party_id: int) -> PartyRecord | None:
        row = await self._one(f"SELECT {PARTY_COLUMNS} FROM parties WHERE id = ?", (party_id,))
        return None if row is None else party_from_row(row)

    async def active_party(self, guild_id: int, channel_id: int) -> PartyRecord | None:
        row = await self._one(
            f"SELECT {PARTY_COLUMNS} FROM parties "
            "WHERE guild_id = ? AND channel_id = ? AND ended_at IS NULL",
            (guild_id, channel_id),
        )
        return None if row is None else party_from_row(row)

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
