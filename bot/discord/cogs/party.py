"""Listening parties: ``/party start``, ``/party playlist``, ``/party end`` and the Join / Leave
buttons on the party message.

One active party per channel (the database enforces it). The buttons are persistent
:class:`discord.ui.DynamicItem` s whose custom ids carry the party: ``earworm:party:join:<id>``
and ``earworm:party:leave:<id>``; they keep working after a restart with no per-message state.
Every change to a party's membership and its message happens under a per-party lock, so two
clicks at once cannot leave the message showing a stale member list.

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
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import set_request_id
from bot.discord.playlist_embeds import jump_url, party_embed, party_playlist_messages
from inference.errors import EarwormError
from storage.records import PartyExistsError, PartyNotFoundError, PartyRecord

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

MAX_COUNT = 25
DEFAULT_COUNT = 15
NAME_CACHE_SIZE = 5000  # display names remembered from party interactions (LRU)
PLAYLIST_RATE, PLAYLIST_PER_S = 3, 30.0  # playlists per channel
MAX_NAME_FETCHES = 10  # REST lookups for unknown names per playlist; the rest show as mentions
NO_MENTIONS = discord.AllowedMentions.none()


class PartyRefused(EarwormError):
    """A party command or button that cannot be done; the message is shown to the user."""

    code = "party_refused"


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

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        set_request_id(interaction)
        return True

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        client: Any = interaction.client
        try:
            cog = client.get_cog(Party.__cog_name__)
            if not isinstance(cog, Party):
                raise PartyRefused("Parties are unavailable right now; try again in a minute.")
            await cog.press(interaction, self.action, self.party_id)
        except Exception as exc:  # the View.on_error of a dynamic item: report, don't just log
            handler = getattr(client, "handle_interaction_error", None)
            if handler is None:
                raise
            await handler(interaction, exc, source=f"party button {self.action}")


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
        self._names: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._cooldowns: dict[int, app_commands.Cooldown] = {}

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PartyButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PartyButton)

    @property
    def db(self) -> Any:
        return self.bot.services.db

    def _lock(self, party_id: int) -> asyncio.Lock:
        return self._locks.setdefault(party_id, asyncio.Lock())

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
        self._names.move_to_end(key)
        while len(self._names) > NAME_CACHE_SIZE:
            self._names.popitem(last=False)

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

    async def _active_party(self, interaction: discord.Interaction) -> PartyRecord:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        party = await self.db.active_party(interaction.guild_id, interaction.channel_id)
        if party is None:
            raise PartyRefused(
                "No party is running in this channel — start one with "
                f"{self.bot.command_mention('party start')}."
            )
        return party

    async def _member_ids(self, party_id: int) -> list[int]:
        return [m.user_id for m in await self.db.members(party_id)]

    def _embed(self, party: PartyRecord, member_ids: list[int], *, ended: bool = False) -> Any:
        return party_embed(
            party,
            member_ids,
            playlist_command=self.bot.command_mention("party playlist"),
            ended=ended,
        )

    # ------------------------------------------------------------------ buttons

    async def press(self, interaction: discord.Interaction, action: str, party_id: int) -> None:
        """A Join or Leave click: update the membership, then the message it is on.

        Acknowledged at once (a deferred update), so clicks queued behind the party's lock
        never miss Discord's 3-second deadline; the message is then edited under the lock, so
        the last edit always shows the latest member list."""
        self._remember(interaction)
        await interaction.response.defer()
        uid = interaction.user.id
        async with self._lock(party_id):
            party = await self.db.get_party(party_id)
            try:
                if party is None or not party.active:
                    raise PartyNotFoundError(f"party {party_id} has ended")
                if action == "join":
                    if not await self.db.join(party_id, uid):
                        raise PartyRefused("You're already in this party.")
                elif not await self.db.leave(party_id, uid):
                    raise PartyRefused("You're not in this party.")
            except PartyNotFoundError:
                await self._show_ended(interaction, party_id)
                return
            members = await self._member_ids(party_id)
            log.info("party %s: user %s %sed (%d members)", party_id, uid, action, len(members))
            await interaction.edit_original_response(
                embed=self._embed(party, members),
                view=party_view(party_id),
                allowed_mentions=NO_MENTIONS,
            )

    async def _show_ended(self, interaction: discord.Interaction, party_id: int) -> None:
        """The party ended (its message missed the update): fix the message, tell the clicker."""
        party = await self.db.get_party(party_id)
        if party is not None:
            members = await self._member_ids(party_id)
            await interaction.edit_original_response(
                embed=self._embed(party, members, ended=True),
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
        host = interaction.user.id
        try:
            party = await self.db.start_party(interaction.guild_id, interaction.channel_id, host)
        except PartyExistsError as exc:
            existing = exc.party
            where = (
                f": {jump_url(existing.guild_id, existing.channel_id, existing.message_id)}"
                if existing.message_id
                else "."
            )
            raise PartyRefused(f"A party is already running here{where}") from None
        try:
            callback = await interaction.response.send_message(
                embed=self._embed(party, [host]),
                view=party_view(party.id),
                allowed_mentions=NO_MENTIONS,
            )
        except BaseException:
            await self.db.end_party(party.id)  # don't leave the channel blocked by a ghost party
            raise
        if callback.message_id is not None:
            await self.db.set_party_message(party.id, callback.message_id)
        log.info("party %s started by %s in channel %s", party.id, host, interaction.channel_id)

    @party.command(
        name="playlist", description="One playlist blended fairly from everyone in the party"
    )
    @app_commands.describe(count=f"How many tracks (1 to {MAX_COUNT}, default {DEFAULT_COUNT})")
    async def playlist(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_COUNT] = DEFAULT_COUNT,
    ) -> None:
        assert interaction.guild_id is not None
        self._remember(interaction)
        party = await self._active_party(interaction)
        members = await self._member_ids(party.id)
        if interaction.user.id not in members and not _can_manage(interaction):
            raise PartyRefused("Join the party first (press **Join** on the party message).")
        if not members:
            raise PartyRefused("Nobody is in the party yet — press **Join** first.")
        self._check_cooldown(interaction.channel_id or 0)
        await interaction.response.defer(thinking=True)
        result = await self.bot.services.party_playlist(interaction.guild_id, members, count)
        names = await self._display_names(interaction, members)
        log.info(
            "party %s: playlist of %d picks for %d members",
            party.id,
            len(result.result.picks),
            len(members),
        )
        for embeds in party_playlist_messages(result, names):
            await interaction.followup.send(embeds=embeds, allowed_mentions=NO_MENTIONS)

    @party.command(
        name="end", description="End the listening party in this channel (host or Manage Server)"
    )
    async def end(self, interaction: discord.Interaction) -> None:
        party = await self._active_party(interaction)
        if interaction.user.id != party.host_id and not _can_manage(interaction):
            host = f"the host (<@{party.host_id}>)" if party.host_id else "the host"
            raise PartyRefused(f"Only {host} or someone with **Manage Server** can end this party.")
        async with self._lock(party.id):
            await self.db.end_party(party.id)
            await interaction.response.send_message(
                "The party is over — thanks for listening!", ephemeral=True
            )
            ended = await self.db.get_party(party.id) or party
            members = await self._member_ids(party.id)
            if ended.message_id is not None and interaction.channel is not None:
                message = interaction.channel.get_partial_message(ended.message_id)  # type: ignore[union-attr]
                try:
                    await message.edit(
                        embed=self._embed(ended, members, ended=True),
                        view=party_view(party.id, disabled=True),
                        allowed_mentions=NO_MENTIONS,
                    )
                except discord.NotFound:
                    pass  # the party message was deleted
                except discord.HTTPException:
                    log.warning("could not update the message of party %s", party.id, exc_info=True)
        self._locks.pop(party.id, None)
        log.info("party %s ended by %s", party.id, interaction.user.id)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Party(bot))
