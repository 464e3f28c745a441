"""❤️ likes: reactions, and ``/likes`` to see and prune them.

- A ❤️ reaction (U+2764, with or without U+FE0F) on an Earworm result likes that track; on any
  other message with an audio attachment or a link it first analyses the audio and adds it to the
  server's catalog (within the same limits as ``/classify``; a ❤️ that finds the track in the
  catalog, or joins an analysis already under way, takes no place in them), credited to the
  message's author (who shared it), then likes it for the one who reacted: one service call
  either way. Removing the reaction removes the like. Reactions get no reply: on a refusal or failure Earworm adds a ⚠️
  reaction to the message and logs why, nothing else (a chat full of error messages for hearts
  would be worse than a quiet miss).
- ``/likes`` lists your likes in this server, privately, five per page, with ◀ ▶ and a remove
  button per track; only you can press them, and they switch off after a few minutes.

A like is committed to SQLite before anything acknowledges it, so a restart loses none.
Reactions of one user on one message are handled one at a time, in order: a quick ❤️ then un-❤️
during an analysis ends unliked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import RESULTS_REMEMBERED, EarwormBot, EarwormView, set_request_id
from bot.discord.capped import CappedDict
from bot.discord.embeds import likes_embed
from bot.discord.replies import services_of
from bot.discord.requests import from_message
from bot.discord.track_buttons import track_id_from_components
from bot.service.errors import StorageError
from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.service.app import EarwormService
    from bot.service.results import AudioSource, LikesPage

log = logging.getLogger(__name__)

HEARTS = frozenset({"\u2764\ufe0f", "\u2764"})
WARNING_EMOJI = "⚠️"


def is_heart(emoji: discord.PartialEmoji) -> bool:
    return emoji.id is None and (emoji.name or "") in HEARTS


class LikesView(EarwormView):
    """One user's likes, a page at a time, with remove buttons (owner only; off on timeout)."""

    page_size = 5
    timeout_s = 300.0  # then the buttons switch off (the list stays)

    def __init__(self, service: EarwormService, guild_id: int, user_id: int) -> None:
        super().__init__(owner_id=user_id, timeout=self.timeout_s)
        self.service = service
        self.guild_id = guild_id
        self.user_id = user_id
        self.page = 0
        self.listing: LikesPage | None = None

    async def load(self) -> None:
        """Read the current page (clamped to the last page) and rebuild the buttons."""
        self._show(await self.service.likes_page(self.guild_id, self.user_id, self.page, self.page_size))

    def _show(self, listing: LikesPage) -> None:
        self.listing = listing
        self.page = listing.page
        self.clear_items()
        for i, track in enumerate(listing.tracks, listing.start + 1):
            self.add_item(RemoveLikeButton(i, track.id))
        if listing.pages > 1:
            self.add_item(PageButton("◀", -1, disabled=self.page == 0))
            self.add_item(PageButton("▶", +1, disabled=self.page >= listing.pages - 1))

    def embed(self) -> discord.Embed:
        assert self.listing is not None
        listing = self.listing
        return likes_embed(
            listing.tracks, page=listing.page, pages=listing.pages, total=listing.total, start=listing.start
        )

    async def show(self, interaction: discord.Interaction) -> None:
        await self.load()
        await self._edit(interaction)

    async def _edit(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            embed=self.embed(), view=self if self.children else None
        )
        if not self.children:
            self.stop()

    async def remove(self, interaction: discord.Interaction, track_id: int) -> None:
        listing = await self.service.remove_like(self.guild_id, self.user_id, track_id, self.page, self.page_size)
        log.info("user %s removed like of track %s", self.user_id, track_id)
        self._show(listing)
        await self._edit(interaction)


class RemoveLikeButton(discord.ui.Button[LikesView]):
    def __init__(self, number: int, track_id: int) -> None:
        super().__init__(label=f"Remove {number}", emoji="✖️", style=discord.ButtonStyle.secondary)
        self.track_id = track_id

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        await self.view.remove(interaction, self.track_id)


class PageButton(discord.ui.Button[LikesView]):
    def __init__(self, label: str, step: int, *, disabled: bool) -> None:
        super().__init__(label=label, style=discord.ButtonStyle.primary, disabled=disabled, row=1)
        self.step = step

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        self.view.page += self.step
        await self.view.show(interaction)


class Likes(commands.Cog):
    """❤️ reactions and ``/likes``."""

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self._locks: dict[tuple[int, int], tuple[asyncio.Lock, int]] = {}
        #: User message id -> the track its ❤️ liked (so un-❤️ finds it without a lookup).
        self._message_tracks: CappedDict[int, int] = CappedDict(RESULTS_REMEMBERED)

    # -- /likes

    @app_commands.command(name="likes", description="The tracks you've liked in this server")
    @app_commands.guild_only()
    async def likes(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        view = LikesView(services_of(self.bot), interaction.guild_id, interaction.user.id)
        await view.load()
        if not view.children:
            await interaction.response.send_message(embed=view.embed(), ephemeral=True)
            view.stop()
            return
        callback = await interaction.response.send_message(
            embed=view.embed(), view=view, ephemeral=True
        )
        resource = getattr(callback, "resource", None)
        view.message = (
            resource
            if isinstance(resource, discord.InteractionMessage)
            else await interaction.original_response()
        )

    # -- reactions

    @asynccontextmanager
    async def _serialised(self, message_id: int, user_id: int) -> AsyncIterator[None]:
        """One reaction event at a time per (message, user), in arrival order."""
        key = (message_id, user_id)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def _wanted(self, payload: discord.RawReactionActionEvent) -> bool:
        if payload.guild_id is None or not is_heart(payload.emoji):
            return False
        if self.bot.services is None:  # running without the service layer: nothing to like
            return False
        if self.bot.user is not None and payload.user_id == self.bot.user.id:
            return False
        return not (payload.member is not None and payload.member.bot)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self._wanted(payload):
            await self._handle(payload, add=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self._wanted(payload):
            await self._handle(payload, add=False)

    async def _handle(self, payload: discord.RawReactionActionEvent, *, add: bool) -> None:
        set_request_id(f"r{payload.message_id}-{payload.user_id}")
        async with self._serialised(payload.message_id, payload.user_id):
            try:
                target = await self._target(payload, add=add)
                if target is None:
                    return
                track_id, changed = await self._apply(payload, target, add=add)
                log.info(
                    "user %s %s track %s by reaction (%s)",
                    payload.user_id,
                    "liked" if add else "unliked",
                    track_id,
                    "changed" if changed else "no change",
                )
            except (EarwormError, StorageError) as exc:
                log_level = logging.ERROR if isinstance(exc, StorageError) else logging.INFO
                log.log(
                    log_level,
                    "could not %s by reaction on message %s for user %s: %s",
                    "like" if add else "unlike",
                    payload.message_id,
                    payload.user_id,
                    exc,
                )
                await self._warn(payload)
            except discord.HTTPException as exc:  # the message vanished, no access, ...
                log.info("reaction on message %s ignored: %s", payload.message_id, exc)

    async def _apply(
        self, payload: discord.RawReactionActionEvent, target: int | AudioSource, *, add: bool
    ) -> tuple[int | None, bool]:
        """One service call: (un)like the track, or the audio the message shares."""
        assert payload.guild_id is not None
        service = services_of(self.bot)
        guild, user = payload.guild_id, payload.user_id
        if isinstance(target, int):
            if add:
                return target, await service.like(guild, user, target)
            return target, await service.unlike(guild, user, target)
        if add:  # credited to the poster, liked for the one who reacted
            track, changed = await service.like_source(guild, user, target, requester=user)
            self._message_tracks[payload.message_id] = track.id
            return track.id, changed
        found = await service.unlike_source(guild, user, target)
        return (found[0].id, found[1]) if found is not None else (None, False)

    async def _target(
        self, payload: discord.RawReactionActionEvent, *, add: bool
    ) -> int | AudioSource | None:
        """What a reacted-to message stands for: a catalog track (a result, or a message whose
        ❤️ already liked one), the audio it shares, or None (not a message about music)."""
        assert payload.guild_id is not None
        if payload.message_id in self.bot.result_tracks:
            return self.bot.result_tracks[payload.message_id]
        if payload.message_id in self._message_tracks and not add:
            return self._message_tracks[payload.message_id]

        channel = self.bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
        message = await channel.fetch_message(payload.message_id)
        if self.bot.user is not None and message.author.id == self.bot.user.id:
            return track_id_from_components(message.components)  # a result, or nothing
        request = from_message(message)
        if request is None:
            return None
        return request.source(self.bot.settings.max_attachment_bytes)

    async def _warn(self, payload: discord.RawReactionActionEvent) -> None:
        """Mark the message with ⚠️ (quietly: no message, nobody pinged)."""
        try:
            channel = self.bot.get_partial_messageable(
                payload.channel_id, guild_id=payload.guild_id
            )
            await channel.get_partial_message(payload.message_id).add_reaction(WARNING_EMOJI)
        except discord.HTTPException as err:
            log.info("could not add %s to message %s: %s", WARNING_EMOJI, payload.message_id, err)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Likes(bot))
