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

import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import UNEXPECTED_ERROR_MESSAGE
from bot.discord.catalog_embeds import (
    catalog_add_embed,
    catalog_stats_embed,
    finished_in_channel_text,
    moved_to_channel_text,
    progress_text,
)
from bot.discord.progress import ProgressMessage
from bot.discord.replies import services_of
from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot
    from bot.service.results import ProgressEvent

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.5  # at most one progress edit this often (webhook rate limits)
NO_MENTIONS = discord.AllowedMentions.none()


class CatalogRefused(EarwormError):
    code = "catalog_refused"


class ImportReply:
    """The answer to one ``/catalog add``: progress by editing the private reply (a
    :class:`~bot.discord.progress.ProgressMessage`), then the summary. Past ``deadline``
    (monotonic seconds) the interaction token is left alone: the reply says once that the
    summary will come in the channel, and :meth:`finish` posts it there."""

    def __init__(
        self, bot: EarwormBot, interaction: discord.Interaction, url: str, deadline: float
    ) -> None:
        self.bot = bot
        self.interaction = interaction
        self.url = url
        self.progress = ProgressMessage(
            interaction,
            interval=PROGRESS_INTERVAL_S,
            deadline=deadline,
            expiry_text=moved_to_channel_text(),
        )

    @property
    def moved(self) -> bool:
        """True once past the deadline: everything from then on goes to the channel."""
        return self.progress.past_deadline()

    async def start(self) -> None:
        await self.progress.start(progress_text(None, self.url))

    def show(self, event: ProgressEvent) -> None:
        self.progress.show(progress_text(event, self.url), event.stage)

    async def finish(self, content: str | None = None, embed: discord.Embed | None = None) -> None:
        """The final answer: in the reply while the token is good, else in the channel."""
        await self.progress.close()
        if not self.moved:
            await self.interaction.edit_original_response(
                content=content, embed=embed, allowed_mentions=NO_MENTIONS
            )
            return
        intro = finished_in_channel_text(self.interaction.user.id, self.url)
        await self._post(f"{intro}\n{content}" if content else intro, embed)

    async def stop(self) -> None:
        await self.progress.close()

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
        reply = ImportReply(self.bot, interaction, link, deadline)

        async def ready() -> None:  # admitted (one import per server, one analysis slot)
            await interaction.response.defer(ephemeral=True, thinking=True)
            await reply.start()

        try:
            summary = await services_of(self.bot).import_link(
                guild_id, link, interaction.user.id, progress=reply.show, ready=ready
            )
        except EarwormError as exc:
            if not interaction.response.is_done():
                raise  # refused before the defer: the error handler answers
            # The link as a whole failed: say so where the answer goes.
            log.info("catalog add %s in guild %s failed: %s", link, guild_id, exc)
            await reply.finish(content=f"❌ {exc}")
            return
        except Exception:
            await reply.stop()
            if reply.moved:
                # The token is spent: the bot's error handler could not answer; this does.
                log.exception("catalog add %s in guild %s failed", link, guild_id)
                interaction.extras["error_handled"] = True
                await reply.finish(content=f"❌ {UNEXPECTED_ERROR_MESSAGE}")
            raise
        except BaseException:  # cancelled (shutting down)
            await reply.stop()
            raise
        limit = self.bot.settings.max_playlist_items
        await reply.finish(embed=catalog_add_embed(summary, link, item_limit=limit))

    @catalog.command(name="stats", description="What's in this server's catalog: size and genres")
    async def stats(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        stats = await services_of(self.bot).catalog_stats(interaction.guild_id)
        guild_name = interaction.guild.name if interaction.guild is not None else None
        await interaction.followup.send(
            embed=catalog_stats_embed(stats, guild_name), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Catalog(bot))
