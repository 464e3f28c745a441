"""``/catalog add`` and ``/catalog stats``: this server's catalog.

``/catalog add <link>`` (Manage Server) fetches a track or a playlist (at most
``settings.max_playlist_items`` entries; the service's fetch limits apply) through the service,
shows progress by editing its private reply, then a summary: added, already there, failed and
why, within one message whatever the playlist (:func:`bot.discord.catalog_embeds.catalog_add_embed`).
One import at a time per server. Discord's interaction token, which the reply is edited with,
lives 15 minutes: an import still running after ``settings.interaction_deadline_s`` says so in
its reply one last time, then posts its summary in the channel (naming whoever asked).

``/catalog stats`` shows the size, total length, contributors, likes and genre mix, for everyone.

Permissions: Discord only honours ``default_member_permissions`` on top-level commands, so it
can't hide ``/catalog add`` without also hiding ``/catalog stats``. ``add`` is therefore gated
at run time (``checks.has_permissions(manage_guild=True)``, refused with a short ephemeral
message); server admins can restrict the whole ``/catalog`` command further in Server Settings >
Integrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import UNEXPECTED_ERROR_MESSAGE
from bot.discord.catalog_embeds import (
    ImportSummary,
    catalog_add_embed,
    catalog_stats_embed,
    finished_in_channel_text,
    moved_to_channel_text,
    progress_text,
)
from bot.service.limits import limiter_for
from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.5  # at most one progress edit this often (webhook rate limits)
NO_MENTIONS = discord.AllowedMentions.none()


class CatalogRefused(EarwormError):
    code = "catalog_refused"


class ImportReply:
    """The answer to one ``/catalog add``: progress by editing the private reply (at most every
    ``PROGRESS_INTERVAL_S``; fed from the download thread by calling the object), then the
    summary. Past ``deadline`` (monotonic seconds) the interaction token is left alone: the
    reply says once that the summary will come in the channel, and :meth:`finish` posts it
    there."""

    def __init__(
        self, bot: EarwormBot, interaction: discord.Interaction, url: str, deadline: float
    ) -> None:
        self.bot = bot
        self.interaction = interaction
        self.url = url
        self.deadline = deadline
        self.loop = asyncio.get_running_loop()
        self.event: Mapping[str, Any] | None = None
        self.items: int | None = None
        self.shown: str | None = None
        #: True once past the deadline: everything from then on goes to the channel.
        self.moved = False
        self._changed = asyncio.Event()
        self._edit_lock = asyncio.Lock()  # one edit of the reply at a time, none after moving
        self._tasks: list[asyncio.Task[None]] = []

    def __call__(self, event: dict[str, Any]) -> None:  # in the download thread
        with contextlib.suppress(RuntimeError):  # the loop closed (shutting down): nobody to tell
            self.loop.call_soon_threadsafe(self._set, dict(event))

    def _set(self, event: dict[str, Any]) -> None:
        if event.get("items"):
            self.items = int(event["items"])
        if event.get("stage") == "done":
            event = {"stage": "analysing", "items": self.items}
        self.event = event
        self._changed.set()

    async def start(self) -> None:
        """Show the first progress line, then keep it current until :meth:`finish`."""
        await self._edit(content=progress_text(None, self.url))
        self._tasks = [
            asyncio.create_task(self._progress(), name="earworm-catalog-progress"),
            asyncio.create_task(self._move_at_deadline(), name="earworm-catalog-deadline"),
        ]

    async def finish(self, content: str | None = None, embed: discord.Embed | None = None) -> None:
        """The final answer: in the reply while the token is good, else in the channel."""
        await self.stop()
        async with self._edit_lock:
            self.moved = self.moved or time.monotonic() >= self.deadline
            if not self.moved:
                await self.interaction.edit_original_response(
                    content=content, embed=embed, allowed_mentions=NO_MENTIONS
                )
                return
        user = self.interaction.user
        intro = finished_in_channel_text(user.id, self.url)
        await self._post(f"{intro}\n{content}" if content else intro, embed)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _edit(self, **fields: Any) -> None:
        async with self._edit_lock:
            if self.moved:
                return
            try:
                await self.interaction.edit_original_response(**fields)
            except discord.HTTPException:
                log.debug("progress edit failed", exc_info=True)

    async def _progress(self) -> None:
        last = 0.0
        while True:
            await self._changed.wait()
            self._changed.clear()
            await asyncio.sleep(max(0.0, last + PROGRESS_INTERVAL_S - time.monotonic()))
            text = progress_text(self.event, self.url)
            if text != self.shown:
                await self._edit(content=text)
                self.shown = text
                last = time.monotonic()

    async def _move_at_deadline(self) -> None:
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        async with self._edit_lock:
            if self.moved:
                return
            self.moved = True
            log.info(
                "catalog add %s: past the interaction deadline; answering in the channel", self.url
            )
            with contextlib.suppress(discord.HTTPException):
                await self.interaction.edit_original_response(content=moved_to_channel_text())

    async def _post(self, content: str, embed: discord.Embed | None) -> None:
        """Post in the command's channel, naming (and notifying) whoever asked; by DM if the
        channel won't take it."""
        user = self.interaction.user
        mentions = discord.AllowedMentions(everyone=False, roles=False, users=[user])
        channel = self.bot.get_partial_messageable(
            self.interaction.channel_id or 0, guild_id=self.interaction.guild_id
        )
        try:
            await channel.send(content, embed=embed, allowed_mentions=mentions)
            return
        except discord.HTTPException as exc:
            log.info("could not post the import summary in channel %s: %s", channel.id, exc)
        try:
            await user.send(content, embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not deliver the import summary to user %s: %s", user.id, exc)


class Catalog(commands.Cog):
    catalog = app_commands.Group(
        name="catalog",
        description="This server's music catalog",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self._importing: set[int] = set()  # guilds with an import running

    @catalog.command(name="add", description="Add a track or a playlist to this server's catalog")
    @app_commands.describe(
        link="A link to a track or a playlist (a web page, SoundCloud, Bandcamp, an audio file…)"
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(
        self, interaction: discord.Interaction, link: app_commands.Range[str, 8, 2000]
    ) -> None:
        deadline = time.monotonic() + self.bot.settings.interaction_deadline_s
        guild_id = interaction.guild_id
        assert guild_id is not None
        link = link.strip()
        if not link.lower().startswith(("http://", "https://")):
            raise CatalogRefused("That isn't a link: it should start with http:// or https://.")
        if guild_id in self._importing:
            raise CatalogRefused(
                "An import is already running in this server; try again when it has finished."
            )
        # One job for the shared analysis limits (raises Refused, "try again in N s", at once).
        async with limiter_for(self.bot).slot(interaction.user.id):
            self._importing.add(guild_id)
            try:
                await self._import(interaction, guild_id, link, deadline)
            finally:
                self._importing.discard(guild_id)

    async def _import(
        self, interaction: discord.Interaction, guild_id: int, link: str, deadline: float
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = ImportReply(self.bot, interaction, link, deadline)
        await reply.start()
        try:
            results = await self.bot.services.add_link(
                guild_id, link, interaction.user.id, playlist=True, progress=reply
            )
        except EarwormError as exc:  # the link as a whole failed: say so where the answer goes
            log.info("catalog add %s in guild %s failed: %s", link, guild_id, exc)
            await reply.finish(content=f"❌ {exc}")
            return
        except Exception:
            await reply.stop()
            if reply.moved or time.monotonic() >= deadline:
                # The token is spent: the bot's error handler could not answer; this does.
                log.exception("catalog add %s in guild %s failed", link, guild_id)
                interaction.extras["error_handled"] = True
                await reply.finish(content=f"❌ {UNEXPECTED_ERROR_MESSAGE}")
            raise
        except BaseException:  # cancelled (shutting down)
            await reply.stop()
            raise
        summary = ImportSummary.of(results)
        log.info(
            "catalog add %s in guild %s: added %d, already %d, failed %d",
            link,
            guild_id,
            len(summary.added),
            len(summary.already),
            len(summary.failed),
        )
        limit = self.bot.settings.max_playlist_items
        await reply.finish(embed=catalog_add_embed(summary, link, item_limit=limit))

    @catalog.command(name="stats", description="What's in this server's catalog: size and genres")
    async def stats(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        stats = await self.bot.services.db.catalog_stats(interaction.guild_id)
        guild_name = interaction.guild.name if interaction.guild is not None else None
        await interaction.followup.send(
            embed=catalog_stats_embed(stats, guild_name), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Catalog(bot))
