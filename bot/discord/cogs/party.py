"""Listening parties: ``/party start``, ``/party playlist``, ``/party end`` and the Join / Leave
buttons on the party message.

The service runs the lifecycle (one active party per channel; each command and click is one
service call); this cog words it for Discord. The buttons are persistent
:class:`discord.ui.DynamicItem` s whose custom ids carry the party: ``earworm:party:join:<id>``
and ``earworm:party:leave:<id>``; they keep working after a restart with no per-message state.
Every change to a party's membership and its message happens under a per-channel lock (one
party per channel), so two clicks at once cannot leave the message showing a stale member list.

The playlist names members by display name (from the interaction, the guild cache, names seen
on earlier party interactions, or a REST lookup); whoever can't be resolved is shown as a
mention, which renders as their name and never pings (embeds don't ping, and every message goes
out with ``AllowedMentions.none()``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.capped import CappedDict
from bot.discord.playlist_embeds import jump_url, party_embed, party_playlist_messages
from bot.discord.replies import guarded, services_of
from bot.service.errors import (
    EmptyParty,
    NoParty,
    NotInParty,
    NotPartyHost,
    PartyEnded,
    PartyRefused,
    PartyRunning,
)
from bot.service.results import PartyState

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

MAX_COUNT = 25
DEFAULT_COUNT = 15
NAME_CACHE_SIZE = 5000  # display names remembered from party interactions (LRU)
PLAYLIST_RATE, PLAYLIST_PER_S = 3, 30.0  # playlists per channel
MAX_NAME_FETCHES = 10  # REST lookups for unknown names per playlist; the rest show as mentions
NO_MENTIONS = discord.AllowedMentions.none()


class PartyButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"earworm:party:(?P<action>join|leave):(?P<party_id>[0-9]+)",
):
    """Join or Leave on a party message; the custom id names the party, so it survives restarts."""

    def __init__(self, action: str, party_id: int, *, disabled: bool = False) -> None:
        join = action == "join"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.success if join else discord.ButtonStyle.secondary,
                label="Join" if join else "Leave",
                emoji="🎧" if join else "👋",
                custom_id=f"earworm:party:{action}:{party_id}",
                disabled=disabled,
            )
        )
        self.action = action
        self.party_id = party_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> PartyButton:
        return cls(match["action"], int(match["party_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await guarded(interaction, f"party button {self.action}", lambda: self._press(interaction))

    async def _press(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog(Party.__cog_name__)  # type: ignore[attr-defined]
        if not isinstance(cog, Party):
            raise PartyRefused("Parties are unavailable right now; try again in a minute.")
        await cog.press(interaction, self.action, self.party_id)


def _can_manage(interaction: discord.Interaction) -> bool:
    perms = interaction.permissions
    return perms.manage_guild or perms.administrator


def party_view(party_id: int, *, disabled: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(PartyButton("join", party_id, disabled=disabled))
    view.add_item(PartyButton("leave", party_id, disabled=disabled))
    return view


class Party(commands.Cog):
    """Listening parties: everyone's taste, one fair playlist."""

    party = app_commands.Group(
        name="party",
        description="Listening parties: one playlist that's fair to everyone in the room",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self._locks: dict[int, asyncio.Lock] = {}
        #: (guild, user) -> display name, least recently used first.
        self._names: CappedDict[tuple[int, int], str] = CappedDict(NAME_CACHE_SIZE)
        self._cooldowns: dict[int, app_commands.Cooldown] = {}

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PartyButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PartyButton)

    def _lock(self, channel_id: int) -> asyncio.Lock:
        return self._locks.setdefault(channel_id, asyncio.Lock())

    def _check_cooldown(self, channel_id: int) -> None:
        """At most PLAYLIST_RATE playlists per PLAYLIST_PER_S in a channel. Counted only for
        playlists actually made (a decorator's cooldown would count refusals too)."""
        now = time.monotonic()
        for key in [k for k, b in self._cooldowns.items() if b.get_tokens(now) >= b.rate]:
            del self._cooldowns[key]  # idle: full again
        bucket = self._cooldowns.setdefault(
            channel_id, app_commands.Cooldown(PLAYLIST_RATE, PLAYLIST_PER_S)
        )
        retry_after = bucket.update_rate_limit(now)
        if retry_after:
            raise app_commands.CommandOnCooldown(bucket, retry_after)

    # ------------------------------------------------------------------ names

    def _remember(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            return
        key = (interaction.guild_id, interaction.user.id)
        self._names[key] = interaction.user.display_name
        self._names.move_to_end(key)  # least recently used goes first

    @commands.Cog.listener()
    async def on_earworm_user_forgotten(self, user_id: int) -> None:
        """Dispatched by ``/forget``: drop the names remembered for this user."""
        for key in [k for k in self._names if k[1] == user_id]:
            del self._names[key]

    async def _display_names(
        self, interaction: discord.Interaction, user_ids: list[int]
    ) -> dict[int, str | None]:
        guild = interaction.guild
        gid = interaction.guild_id or 0
        names: dict[int, str | None] = {}
        unknown: list[int] = []
        for uid in user_ids:
            member = guild.get_member(uid) if guild is not None else None
            if uid == interaction.user.id:
                names[uid] = interaction.user.display_name
            elif member is not None:
                names[uid] = member.display_name
            elif (gid, uid) in self._names:
                names[uid] = self._names[(gid, uid)]
            else:
                names[uid] = None
                unknown.append(uid)
        if guild is not None:
            for uid in unknown[:MAX_NAME_FETCHES]:
                try:
                    member = await guild.fetch_member(uid)
                except discord.HTTPException:
                    continue  # left the server: shown as a mention
                names[uid] = member.display_name
                self._names[(gid, uid)] = member.display_name
        return names

    # ------------------------------------------------------------------ helpers

    def _embed(self, state: PartyState, *, ended: bool = False) -> Any:
        return party_embed(
            state.party,
            state.members,
            playlist_command=self.bot.command_mention("party playlist"),
            ended=ended,
        )

    def _refusal(self, exc: PartyRefused) -> PartyRefused:
        """The service's refusal, said with what Discord can add (a command, a link, a name)."""
        if isinstance(exc, NoParty):
            return PartyRefused(
                "No party is running in this channel — start one with "
                f"{self.bot.command_mention('party start')}."
            )
        if isinstance(exc, PartyRunning):
            existing = exc.party
            where = (
                f": {jump_url(existing.guild_id, existing.channel_id, existing.message_id)}"
                if existing.message_id
                else "."
            )
            return PartyRefused(f"A party is already running here{where}")
        if isinstance(exc, NotPartyHost):
            host = f"the host (<@{exc.host_id}>)" if exc.host_id else "the host"
            return PartyRefused(f"Only {host} or someone with **Manage Server** can end this party.")
        if isinstance(exc, NotInParty):
            return PartyRefused("Join the party first (press **Join** on the party message).")
        if isinstance(exc, EmptyParty):
            return PartyRefused("Nobody is in the party yet — press **Join** first.")
        return exc

    # ------------------------------------------------------------------ buttons

    async def press(self, interaction: discord.Interaction, action: str, party_id: int) -> None:
        """A Join or Leave click: update the membership, then the message it is on.

        Acknowledged at once (a deferred update), so clicks queued behind the channel's lock
        never miss Discord's 3-second deadline; the message is then edited under the lock, so
        the last edit always shows the latest member list."""
        self._remember(interaction)
        await interaction.response.defer()
        service = services_of(self.bot)
        change = service.join_party if action == "join" else service.leave_party
        async with self._lock(interaction.channel_id or 0):
            try:
                state = await change(party_id, interaction.user.id)
            except PartyEnded as ended:
                await self._show_ended(interaction, party_id, ended)
                return
            await interaction.edit_original_response(
                embed=self._embed(state), view=party_view(party_id), allowed_mentions=NO_MENTIONS
            )

    async def _show_ended(
        self, interaction: discord.Interaction, party_id: int, ended: PartyEnded
    ) -> None:
        """The party ended (its message missed the update): fix the message, tell the clicker."""
        if ended.party is not None:
            await interaction.edit_original_response(
                embed=self._embed(PartyState(ended.party, ended.members), ended=True),
                view=party_view(party_id, disabled=True),
                allowed_mentions=NO_MENTIONS,
            )
        else:  # unknown party (a deleted database?): just retire the buttons
            await interaction.edit_original_response(view=party_view(party_id, disabled=True))
        await interaction.followup.send("This party has ended.", ephemeral=True)

    # ------------------------------------------------------------------ commands

    @party.command(name="start", description="Start a listening party in this channel")
    async def start(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        self._remember(interaction)

        async def announce(state: PartyState) -> int | None:
            callback = await interaction.response.send_message(
                embed=self._embed(state),
                view=party_view(state.party.id),
                allowed_mentions=NO_MENTIONS,
            )
            return callback.message_id

        try:
            await services_of(self.bot).start_party(
                interaction.guild_id, interaction.channel_id, interaction.user.id, announce
            )
        except PartyRefused as exc:
            raise self._refusal(exc) from None

    @party.command(
        name="playlist", description="One playlist blended fairly from everyone in the party"
    )
    @app_commands.describe(count=f"How many tracks (1 to {MAX_COUNT}, default {DEFAULT_COUNT})")
    async def playlist(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_COUNT] = DEFAULT_COUNT,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        self._remember(interaction)

        async def ready() -> None:
            self._check_cooldown(interaction.channel_id or 0)
            await interaction.response.defer(thinking=True)

        try:
            state, result = await services_of(self.bot).party_blend(
                interaction.guild_id,
                interaction.channel_id,
                interaction.user.id,
                can_manage=_can_manage(interaction),
                count=count,
                ready=ready,
            )
        except PartyRefused as exc:
            raise self._refusal(exc) from None
        names = await self._display_names(interaction, state.members)
        for embeds in party_playlist_messages(result, names):
            await interaction.followup.send(embeds=embeds, allowed_mentions=NO_MENTIONS)

    @party.command(
        name="end", description="End the listening party in this channel (host or Manage Server)"
    )
    async def end(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        async with self._lock(interaction.channel_id):
            try:
                state = await services_of(self.bot).end_party(
                    interaction.guild_id,
                    interaction.channel_id,
                    interaction.user.id,
                    can_manage=_can_manage(interaction),
                )
            except PartyRefused as exc:
                raise self._refusal(exc) from None
            await interaction.response.send_message(
                "The party is over — thanks for listening!", ephemeral=True
            )
            party = state.party
            if party.message_id is not None and interaction.channel is not None:
                message = interaction.channel.get_partial_message(party.message_id)  # type: ignore[union-attr]
                try:
                    await message.edit(
                        embed=self._embed(state, ended=True),
                        view=party_view(party.id, disabled=True),
                        allowed_mentions=NO_MENTIONS,
                    )
                except discord.NotFound:
                    pass  # the party message was deleted
                except discord.HTTPException:
                    log.warning("could not update the message of party %s", party.id, exc_info=True)
        self._locks.pop(interaction.channel_id, None)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Party(bot))
