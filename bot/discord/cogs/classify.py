"""``/classify`` and the "Analyze with Earworm" message menu: what a track sounds like.

Flow of one request (the event loop never blocks):

1. input checks that need no I/O (one of file/link; the attachment's declared size) and
   admission (:mod:`bot.service.limits`): a refusal is the first response, ephemeral;
2. ``defer(thinking=True)`` at once (Discord wants a first response within 3 s), then progress by
   editing that response: "⬇️ Downloading… 40%", "🎧 Analysing…";
3. the attachment is read (aiohttp) or the link downloaded (yt-dlp in a thread), analysed in the
   worker pool and added to the guild's catalog (aiosqlite);
4. the response becomes the result: an embed, the genre timeline as ``genres.png`` (drawn in a
   separate process, see :class:`ChartRenderer`) and two persistent buttons,
   ``earworm:like:<track id>`` and ``earworm:more:<track id>``.

The response is public (the result is worth sharing); a refusal or failure after the defer is sent
as a fresh *ephemeral* followup by the bot's error handler and the public progress message is
deleted, so a failed request leaves nothing in the channel.

The buttons are :class:`discord.ui.DynamicItem` s registered on the bot, so they keep working
after a restart on messages posted before it (their state is all in the custom id).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import io
import logging
import math
import multiprocessing
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import EarwormBot, set_request_id
from bot.discord.embeds import CHART_FILENAME, analysis_embed, not_music_embed, similar_embed
from bot.discord.requests import (
    AudioRequest,
    NoAudioFound,
    add_to_catalog,
    from_attachment,
    from_link,
    from_message,
)
from bot.present.chart import genre_timeline_png
from bot.service.app import NotMusicError, Stored
from bot.service.limits import limiter_for
from inference.errors import EarwormError, JobTimeout, PoolBusy, PoolClosed, WorkerCrashed

if TYPE_CHECKING:
    from bot.service.app import EarwormService
    from inference.result import Analysis

log = logging.getLogger(__name__)

LIKE_PREFIX = "earworm:like:"
MORE_PREFIX = "earworm:more:"
LIKE_TEMPLATE = r"earworm:like:(?P<track_id>[0-9]{1,19})"
MORE_TEMPLATE = r"earworm:more:(?P<track_id>[0-9]{1,19})"
_LIKE_RE = re.compile(LIKE_TEMPLATE)

SIMILAR_COUNT = 5
#: Least time between two progress edits of the same stage (Discord rate-limits edits).
PROGRESS_INTERVAL_S = 1.0

STAGE_TEXT = {"downloading": "⬇️ Downloading…", "analysing": "🎧 Analysing…"}


class BadRequest(EarwormError):
    code = "bad_request"


class AnalysisFailed(EarwormError):
    code = "analysis_failed"


# ---------------------------------------------------------------------- helpers


def failure_text(exc: EarwormError) -> str:
    """What to tell the user about a failed analysis (short, specific, no internals)."""
    if isinstance(exc, WorkerCrashed):
        return "The analysis failed: the worker analysing it crashed. Please try again."
    if isinstance(exc, JobTimeout):
        return f"The analysis took too long and was stopped ({exc}). Try a shorter track."
    if isinstance(exc, PoolBusy):
        return f"I'm busy right now; try again in ~{max(1, math.ceil(exc.retry_after_s))} s."
    if isinstance(exc, PoolClosed):
        return "I'm restarting right now; try again in a minute."
    return str(exc) or "I couldn't analyse that."


def like_ids_in(components: Iterable[Any]) -> list[int]:
    """The track ids of every Like button (``earworm:like:<id>``) in a message's components."""
    found: list[int] = []
    for component in components:
        children = getattr(component, "children", None)
        if children:
            found += like_ids_in(children)
            continue
        m = _LIKE_RE.fullmatch(getattr(component, "custom_id", None) or "")
        if m and int(m["track_id"]) not in found:
            found.append(int(m["track_id"]))
    return found


def track_id_from_components(components: Iterable[Any]) -> int | None:
    """The track an Earworm message is about: the id of its one Like button; None when it has
    none, or several (a list of tracks: a ❤️ on it can't say which one)."""
    ids = like_ids_in(components)
    return ids[0] if len(ids) == 1 else None


def services_of(client: discord.Client) -> EarwormService:
    services = getattr(client, "services", None)
    if services is None:
        raise AnalysisFailed("I'm not ready to analyse music yet; try again in a minute.")
    return services  # type: ignore[return-value]


async def _guarded(
    interaction: discord.Interaction, source: str, fn: Callable[[], Awaitable[None]]
) -> None:
    """Run a dynamic item's callback with the bot's error handling (discord.py only logs errors
    from dynamic items)."""
    set_request_id(interaction)
    try:
        await fn()
    except Exception as exc:
        client = interaction.client
        if isinstance(client, EarwormBot):
            await client.handle_interaction_error(interaction, exc, source=source)
        else:  # pragma: no cover - only with a foreign client
            raise


# ---------------------------------------------------------------------- persistent buttons


class LikeButton(discord.ui.DynamicItem[discord.ui.Button], template=LIKE_TEMPLATE):
    """❤️ Like: adds the track to the clicker's likes (committed before the reply)."""

    def __init__(self, track_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Like",
                emoji="❤️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{LIKE_PREFIX}{track_id}",
            )
        )
        self.track_id = track_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> LikeButton:
        return cls(int(match["track_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, "button like", lambda: self._like(interaction))

    async def _like(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise BadRequest("Likes belong to a server; use this in one.")
        service = services_of(interaction.client)
        created = await service.like(interaction.guild_id, interaction.user.id, self.track_id)
        client = interaction.client
        likes = client.command_mention("likes") if isinstance(client, EarwormBot) else "`/likes`"
        text = "❤️ Added to your likes." if created else "❤️ It's already in your likes."
        await interaction.response.send_message(f"{text} See them with {likes}.", ephemeral=True)


class MoreLikeThisButton(discord.ui.DynamicItem[discord.ui.Button], template=MORE_TEMPLATE):
    """More like this: the nearest tracks in this server's catalog, privately."""

    def __init__(self, track_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="More like this",
                emoji="🔎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{MORE_PREFIX}{track_id}",
            )
        )
        self.track_id = track_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreLikeThisButton:
        return cls(int(match["track_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, "button more", lambda: self._more(interaction))

    async def _more(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise BadRequest("Catalogs belong to a server; use this in one.")
        service = services_of(interaction.client)
        await interaction.response.defer(ephemeral=True, thinking=True)
        track = await service.db.get_track(interaction.guild_id, self.track_id)
        if track is None:
            raise BadRequest("That track is not in this server's catalog any more.")
        hits = await service.similar_tracks(interaction.guild_id, self.track_id, SIMILAR_COUNT)
        await interaction.followup.send(embed=similar_embed(track.title, hits), ephemeral=True)


class TrackView(discord.ui.View):
    """The buttons under a result: ❤️ Like and More like this (persistent, no timeout)."""

    def __init__(self, track_id: int) -> None:
        super().__init__(timeout=None)
        self.add_item(LikeButton(track_id))
        self.add_item(MoreLikeThisButton(track_id))


# ---------------------------------------------------------------------- progress


class Progress:
    """Shows short status lines by editing a deferred response.

    A new stage is shown at once; updates within a stage (download percentages) at most every
    ``interval`` seconds. :meth:`close` waits for an edit in flight, so no stale progress can
    land after the result. :meth:`update` must be called on the event loop.
    """

    def __init__(self, interaction: discord.Interaction, interval: float = PROGRESS_INTERVAL_S):
        self.interaction = interaction
        self.interval = interval
        self._loop = asyncio.get_running_loop()
        self._shown: tuple[str, str] | None = None  # (stage, text)
        self._pending: tuple[str, str] | None = None
        self._last = 0.0
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Every text shown, in order (for logs and tests).
        self.history: list[str] = []

    async def start(self, stage: str, text: str | None = None) -> None:
        """Replace the "thinking…" state with the first status line (awaited)."""
        text = text or STAGE_TEXT[stage]
        await self.interaction.edit_original_response(content=text)
        self._shown = (stage, text)
        self.history.append(text)
        self._last = self._loop.time()

    def update(self, stage: str, fraction: float | None = None) -> None:
        if self._closed.is_set():
            return
        text = STAGE_TEXT.get(stage, stage)
        if fraction is not None and stage == "downloading":
            text = f"{text} {round(max(0.0, min(1.0, fraction)) * 100)}%"
        if (stage, text) == self._shown:
            return
        self._pending = (stage, text)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="earworm-progress")

    async def _run(self) -> None:
        while not self._closed.is_set():
            pending = self._pending
            if pending is None or pending == self._shown:
                return
            same_stage = self._shown is not None and pending[0] == self._shown[0]
            delay = self._last + self.interval - self._loop.time() if same_stage else 0.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
                continue
            try:
                await self.interaction.edit_original_response(content=pending[1])
            except discord.HTTPException as exc:
                log.debug("progress edit failed: %s", exc)
            self._shown = pending
            self.history.append(pending[1])
            self._last = self._loop.time()

    async def close(self) -> None:
        self._closed.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


# ---------------------------------------------------------------------- charts


def _warm_chart_process() -> None:
    import matplotlib  # noqa: F401  (the import is most of a first chart's cost)


class ChartRenderer:
    """Draws genre timelines (about 65 ms of matplotlib each) in one separate process.

    A thread (``asyncio.to_thread``) keeps the drawing off the event loop but not off the GIL:
    while a chart is drawn, every time the loop thread needs the GIL back (after each socket
    operation) it waits up to the interpreter's switch interval, and 16 results in a burst
    measurably delay the loop (tests/bench/bench_bot.py). A process has its own GIL. Should
    the process die, the chart is drawn in a thread instead and the process restarted next time.
    """

    def __init__(self) -> None:
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the process (idempotent); it imports matplotlib in the background."""
        if self._executor is not None:
            return
        try:
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_chart_process,
            )
            executor.submit(int)  # spawns the process and runs the initializer
        except Exception:
            log.warning(
                "could not start the chart process; charts are drawn in threads", exc_info=True
            )
            return
        self._executor = executor

    async def render(self, analysis: Analysis, title: str) -> bytes:
        draw = functools.partial(genre_timeline_png, analysis, title=title)
        self.start()
        executor = self._executor
        if executor is None:
            return await asyncio.to_thread(draw)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, draw)
        except concurrent.futures.process.BrokenProcessPool:
            log.warning("the chart process died; drawing this chart in a thread")
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(draw)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


# ---------------------------------------------------------------------- the cog


class Classify(commands.Cog):
    """What a track sounds like: ``/classify`` and the message menu."""

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self.ctx_menu = app_commands.ContextMenu(
            name="Analyze with Earworm", callback=self.analyze_message
        )
        #: Result message id -> track id, for ❤️ reactions on results (the likes cog reads it;
        #: after a restart it falls back to the message's buttons).
        self.result_tracks: dict[int, int] = {}
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
        """Admit, defer, download + analyse + store, reply (see the module docstring)."""
        assert interaction.guild_id is not None  # guild_only
        settings = self.bot.settings
        if request.kind == "attachment":
            request.check_size(settings.max_attachment_bytes)  # before any download
        slot = limiter_for(self.bot).acquire(interaction.user.id)
        finished = False
        try:
            await interaction.response.defer(thinking=True)
            self.charts.start()  # the first time: it gets ready while the audio is analysed
            progress = Progress(interaction)
            await progress.start("downloading")
            try:
                stored = await add_to_catalog(
                    services_of(self.bot),
                    interaction.guild_id,
                    request,
                    max_attachment_bytes=settings.max_attachment_bytes,
                    progress=progress.update,
                )
                await progress.close()
                await self._send_result(interaction, stored, request)
            except NotMusicError as exc:
                await progress.close()
                await self._not_music(interaction, exc, request)
                return
            except EarwormError as exc:
                await progress.close()
                await self._drop_progress(interaction)
                raise AnalysisFailed(failure_text(exc)) from exc
            except BaseException:
                await progress.close()
                await self._drop_progress(interaction)
                raise
            finished = True
        finally:
            slot.release(record=finished)

    async def _send_result(
        self, interaction: discord.Interaction, stored: Stored, request: AudioRequest
    ) -> None:
        assert interaction.guild_id is not None
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
        self.result_tracks[message.id] = track.id
        if len(self.result_tracks) > 10_000:  # a bounded cache: drop the oldest entry
            self.result_tracks.pop(next(iter(self.result_tracks)))
        if track.source_url is None:
            # Shared with /classify: the result message is where people can find it.
            try:
                await services_of(self.bot).db.set_track_source(
                    interaction.guild_id, track.id, message.jump_url
                )
            except Exception:
                log.warning("could not record the source of track %s", track.id, exc_info=True)
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
        analysis = exc.analysis
        reason = analysis.not_music_reason
        text = (
            f"This doesn't sound like music ({reason}), so I didn't add it."
            if reason
            else "This doesn't sound like music, so I didn't add it."
        )
        embed = not_music_embed(analysis, title=request.title, url=request.source_url)
        await self._drop_progress(interaction)
        await interaction.followup.send(text, embed=embed, ephemeral=True)
        log.info("not music (%s) for user %s", reason, interaction.user.id)

    async def _drop_progress(self, interaction: discord.Interaction) -> None:
        """Delete the public progress message (the error goes out as an ephemeral followup)."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            log.warning("could not delete the progress message", exc_info=True)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Classify(bot))
