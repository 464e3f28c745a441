"""``/catalog add`` and ``/catalog stats``: this server's catalog.

``/catalog add <link>`` (Manage Server) fetches a track or a playlist (at most
``settings.max_playlist_items`` entries; the service's fetch limits apply) through the service,
shows progress by editing its private reply, then a summary: added, already there, failed and
why. One import at a time per server.

``/catalog stats`` shows the size, total length, contributors, likes and genre mix, for everyone.

Permissions: Discord only honours ``default_member_permissions`` on top-level commands, so it
can't hide ``/catalog add`` without also hiding ``/catalog stats``. ``add`` is therefore gated
at run time (``checks.has_permissions(manage_guild=True)``, refused with a short ephemeral
message); server admins can restrict the whole ``/catalog`` command further in Server Settings >
Integrations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import limiter_for
from bot.playlist_embeds import (
    ImportSummary,
    catalog_add_embed,
    catalog_stats_embed,
    progress_text,
)
from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.discord_app import EarwormBot

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.5  # at most one progress edit this often (webhook rate limits)
NO_MENTIONS = discord.AllowedMentions.none()


class CatalogRefused(EarwormError):
    code = "catalog_refused"


class _Progress:
    """Collects fetch progress (called from the download thread) and edits the reply from the
    event loop, at most every ``PROGRESS_INTERVAL_S``."""

    def __init__(self, interaction: discord.Interaction, url: str) -> None:
        self.interaction = interaction
        self.url = url
        self.loop = asyncio.get_running_loop()
        self.event: Mapping[str, Any] | None = None
        self.items: int | None = None
        self.shown: str | None = None
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def __call__(self, event: dict[str, Any]) -> None:  # in the download thread
        try:
            self.loop.call_soon_threadsafe(self._set, dict(event))
        except RuntimeError:  # the loop closed (shutting down): nobody to tell
            pass

    def _set(self, event: dict[str, Any]) -> None:
        if event.get("items"):
            self.items = int(event["items"])
        if event.get("stage") == "done":
            event = {"stage": "analysing", "items": self.items}
        self.event = event
        self.changed.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="earworm-catalog-progress")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        last = 0.0
        while True:
            await self.changed.wait()
            self.changed.clear()
            await asyncio.sleep(max(0.0, last + PROGRESS_INTERVAL_S - time.monotonic()))
            text = progress_text(self.event, self.url)
            if text == self.shown:
                continue
            try:
                await self.interaction.edit_original_response(content=text)
            except discord.HTTPException:
                log.debug("progress edit failed", exc_info=True)
            self.shown = text
            last = time.monotonic()


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
                await self._import(interaction, guild_id, link)
            finally:
                self._importing.discard(guild_id)

    async def _import(self, interaction: discord.Interaction, guild_id: int, link: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        progress = _Progress(interaction, link)
        progress.shown = progress_text(None, link)
        await interaction.edit_original_response(content=progress.shown)
        progress.start()
        try:
            results = await self.bot.services.add_link(
                guild_id, link, interaction.user.id, playlist=True, progress=progress
            )
        except EarwormError as exc:  # the link as a whole failed: say so in the same reply
            log.info("catalog add %s in guild %s failed: %s", link, guild_id, exc)
            await progress.stop()
            await interaction.edit_original_response(content=f"❌ {exc}")
            return
        finally:
            await progress.stop()
        summary = ImportSummary.of(results)
        log.info(
            "catalog add %s in guild %s: added %d, already %d, failed %d",
            link,
            guild_id,
            len(summary.added),
            len(summary.already),
            len(summary.failed),
        )
        embed = catalog_add_embed(summary, link)
        limit = self.bot.settings.max_playlist_items
        if len(results) >= limit:
            embed.set_footer(text=f"Playlists are read up to {limit} tracks.")
        await interaction.edit_original_response(
            content=None, embed=embed, allowed_mentions=NO_MENTIONS
        )

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
