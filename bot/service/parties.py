"""Listening parties: start one in a channel, join, leave, blend everyone's likes into one
playlist, end it. One active party per channel (the database enforces it).

Front ends word the refusals their own way where they can say more (a clickable command, a link
to the party message); the messages here read well on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.service.errors import (
    EmptyParty,
    NoParty,
    NotInParty,
    NotPartyHost,
    PartyEnded,
    PartyRefused,
    PartyRunning,
)
from bot.service.recommend import Recommendations
from bot.service.results import PartyResult, PartyState, Ready
from storage.records import PartyExistsError, PartyNotFoundError, PartyRecord

log = logging.getLogger(__name__)


class Parties(Recommendations):
    async def start_party(self, guild_id: int, channel_id: int, host_id: int, announce: Callable[[PartyState], Awaitable[int | None]]) -> PartyState:
        """Start a party in the channel, the host in it, and ``announce`` it (a front end posts
        the party's message and returns its id, remembered with the party). Raises
        ``PartyRunning`` if the channel has one; a failed announcement ends the party again, so
        no ghost party blocks the channel."""
        try:
            party = await self.db.start_party(guild_id, channel_id, host_id)
        except PartyExistsError as exc:
            raise PartyRunning(exc.party) from None
        state = PartyState(party, [host_id])
        try:
            message_id = await announce(state)
        except BaseException:
            await self.db.end_party(party.id)
            raise
        if message_id is not None:
            await self.db.set_party_message(party.id, message_id)
        log.info("party %s started by %s in channel %s", party.id, host_id, channel_id)
        return state

    async def join_party(self, party_id: int, user_id: int) -> PartyState:
        """Join; raises ``PartyEnded`` (with the party as it ended) or ``PartyRefused``."""
        return await self._change(party_id, user_id, join=True)

    async def leave_party(self, party_id: int, user_id: int) -> PartyState:
        return await self._change(party_id, user_id, join=False)

    async def _change(self, party_id: int, user_id: int, *, join: bool) -> PartyState:
        party = await self.db.get_party(party_id)
        try:
            if party is None or not party.active:
                raise PartyNotFoundError(f"party {party_id} has ended")
            if join:
                if not await self.db.join(party_id, user_id):
                    raise PartyRefused("You're already in this party.")
            elif not await self.db.leave(party_id, user_id):
                raise PartyRefused("You're not in this party.")
        except PartyNotFoundError:
            ended = await self.db.get_party(party_id)
            raise PartyEnded(ended, await self._member_ids(party_id) if ended else []) from None
        members = await self._member_ids(party_id)
        log.info("party %s: user %s %s (%d members)", party_id, user_id, "joined" if join else "left", len(members))
        return PartyState(party, members)

    async def party_blend(self, guild_id: int, channel_id: int, user_id: int, *, can_manage: bool, count: int, ready: Ready | None = None) -> tuple[PartyState, PartyResult]:
        """The channel's party and one playlist blended fairly from its members' likes. Only a
        member (or someone who manages the server) may ask; ``ready()`` is awaited once the
        request is allowed, before the blend."""
        state = await self._active(guild_id, channel_id)
        if user_id not in state.members and not can_manage:
            raise NotInParty()
        if not state.members:
            raise EmptyParty()
        if ready is not None:
            await ready()
        result = await self.party_playlist(guild_id, state.members, count)
        log.info("party %s: playlist of %d picks for %d members", state.party.id, len(result.result.picks), len(state.members))
        return state, result

    async def end_party(self, guild_id: int, channel_id: int, user_id: int, *, can_manage: bool) -> PartyState:
        """End the channel's party (its host, or someone who manages the server); the party as
        it ended, with its members."""
        state = await self._active(guild_id, channel_id)
        party = state.party
        if user_id != party.host_id and not can_manage:
            raise NotPartyHost(party.host_id)
        await self.db.end_party(party.id)
        ended = await self.db.get_party(party.id) or party
        log.info("party %s ended by %s", party.id, user_id)
        return PartyState(ended, await self._member_ids(party.id))

    async def _active(self, guild_id: int, channel_id: int) -> PartyState:
        party: PartyRecord | None = await self.db.active_party(guild_id, channel_id)
        if party is None:
            raise NoParty()
        return PartyState(party, await self._member_ids(party.id))

    async def _member_ids(self, party_id: int) -> list[int]:
        return [m.user_id for m in await self.db.members(party_id)]
