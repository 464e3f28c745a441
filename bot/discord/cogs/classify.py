"""``/classify`` and the "Analyze with Earworm" message menu: what a track sounds like.

Flow of one request (the event loop never blocks):

1. input checks that need no I/O (one of file/link; the attachment's declared size);
2. one call to the service's ``ingest``, which admits the request (a refusal is the first
   response, ephemeral), then lets this cog ``defer(thinking=True)`` (Discord wants a first
   response within 3 s) and show progress by editing that response ("⬇️ Downloading… 40%",
   "🎧 Analyzing…"), then finds the track in the catalog or downloads, analyses and adds it;
3. the response becomes the result: an embed, the genre timeline as ``genres.png`` (drawn in a
   separate process, :class:`~bot.discord.charts.ChartRenderer`) and the persistent buttons of
   :mod:`bot.discord.track_buttons`.

The response is public (the result is worth sharing); a refusal or failure after the defer is sent
as a fresh *ephemeral* followup by the bot's error handler and the public progress message is
deleted, so a failed request leaves nothing in the channel.
"""

from __future__ import annotations

import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import EarwormBot
from bot.discord.charts import ChartRenderer
from bot.discord.embeds import CHART_FILENAME, analysis_embed, not_music_embed
from bot.discord.progress import ProgressMessage
from bot.discord.replies import AnalysisFailed, BadRequest, failure_text, services_of
from bot.discord.requests import (
    AudioRequest,
    NoAudioFound,
    from_attachment,
    from_link,
    from_message,
)
from bot.discord.track_buttons import LikeButton, MoreLikeThisButton, TrackView
from bot.service.errors import NotMusicError
from bot.service.results import ProgressEvent, Stored
from inference.errors import EarwormError

log = logging.getLogger(__name__)

#: Least time between two progress edits of the same stage (Discord rate-limits edits).
PROGRESS_INTERVAL_S = 1.0

STAGE_TEXT = {"downloading": "⬇️ Downloading…", "analyzing": "🎧 Analyzing…"}


def stage_line(event: ProgressEvent) -> tuple[str, str]:
    """(line, stage) for a progress event: reading a link's page counts as downloading."""
    stage = "analyzing" if event.stage == "analyzing" else "downloading"
    text = STAGE_TEXT[stage]
    if stage == "downloading" and event.fraction is not None:
        text = f"{text} {round(max(0.0, min(1.0, event.fraction)) * 100)}%"
    return text, stage


class Classify(commands.Cog):
    """What a track sounds like: ``/classify`` and the message menu."""

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self.ctx_menu = app_commands.ContextMenu(
            name="Analyze with Earworm", callback=self.analyze_message
        )
        self.charts = ChartRenderer()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.ctx_menu)
        self.bot.add_dynamic_items(LikeButton, MoreLikeThisButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.ctx_menu.name, type=self.ctx_menu.type)
        self.bot.remove_dynamic_items(LikeButton, MoreLikeThisButton)
        await self.charts.close()

    # -- entry points

    @app_commands.command(
        name="classify",
        description="What does a track sound like? Genres over time, mood, tempo and key",
    )
    @app_commands.describe(
        file="An audio file (mp3, ogg, wav, flac, m4a, ...)",
        link="A link to a track: a page with audio or video, or a direct link to a file",
    )
    @app_commands.guild_only()
    async def classify(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        link: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        if (file is None) == (link is None):
            raise BadRequest("Give me either a file or a link (one of the two).")
        sharer = interaction.user.id
        request = (
            from_attachment(file, source_url=None, shared_by=sharer)
            if file
            else from_link(link or "", shared_by=sharer)
        )
        await self.analyze(interaction, request)

    @app_commands.guild_only()
    async def analyze_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        request = from_message(message)
        if request is None:
            raise NoAudioFound("I can't find an audio file or a link in that message.")
        await self.analyze(interaction, request)

    # -- the job

    async def analyze(self, interaction: discord.Interaction, request: AudioRequest) -> None:
        """Check, then one service call: admit, defer, find or download + analyze + store;
        then the reply (see the module docstring)."""
        assert interaction.guild_id is not None  # guild_only
        max_bytes = self.bot.settings.max_attachment_bytes
        request.check_size(max_bytes)  # before any download
        service = services_of(self.bot)
        progress = ProgressMessage(interaction, interval=PROGRESS_INTERVAL_S)

        async def ready() -> str:
            await interaction.response.defer(thinking=True)
            self.charts.start()  # the first time: it gets ready while the audio is analyzed
            message = await progress.start(STAGE_TEXT["downloading"], stage="downloading")
            return message.jump_url  # the source of a file given straight to /classify

        try:
            stored = await service.ingest(
                interaction.guild_id,
                request.source(max_bytes),
                requester=interaction.user.id,
                progress=lambda event: progress.show(*stage_line(event)),
                ready=ready,
            )
            await progress.close()
            await self._send_result(interaction, stored, request)
        except NotMusicError as exc:
            await progress.close()
            await self._not_music(interaction, exc, request)
        except EarwormError as exc:
            await progress.close()
            if not interaction.response.is_done():
                raise  # refused before the defer: the error handler answers
            await self._drop_progress(interaction)
            raise AnalysisFailed(failure_text(exc)) from exc
        except BaseException:
            await progress.close()
            if interaction.response.is_done():
                await self._drop_progress(interaction)
            raise

    async def _send_result(
        self, interaction: discord.Interaction, stored: Stored, request: AudioRequest
    ) -> None:
        track, analysis = stored.track, stored.analysis
        png = await self.charts.render(analysis, track.title)
        note = None if stored.created else "Already in this server's catalog."
        embed = analysis_embed(
            analysis,
            title=track.title,
            url=track.source_url or request.source_url,
            track_id=track.id,
            note=note,
        )
        message = await interaction.edit_original_response(
            content=None,
            embed=embed,
            attachments=[discord.File(io.BytesIO(png), filename=CHART_FILENAME)],
            view=TrackView(track.id),
        )
        # The result is out: from here on nothing may fail the request (which would delete it).
        self.bot.remember_result(message.id, track.id)
        log.info(
            "classified track %s (%s) for user %s: %s",
            track.id,
            "new" if stored.created else "known",
            interaction.user.id,
            analysis.top_genre,
        )

    async def _not_music(
        self, interaction: discord.Interaction, exc: NotMusicError, request: AudioRequest
    ) -> None:
        embed = not_music_embed(exc.analysis, title=request.title, url=request.source_url)
        await self._drop_progress(interaction)
        await interaction.followup.send(str(exc), embed=embed, ephemeral=True)
        log.info("not music (%s) for user %s", exc.analysis.not_music_reason, interaction.user.id)

    async def _drop_progress(self, interaction: discord.Interaction) -> None:
        """Delete the public progress message (the error goes out as an ephemeral followup)."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.warning("could not delete the progress message", exc_info=True)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Classify(bot))
