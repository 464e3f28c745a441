"""Ingest: find, fetch or analyze audio into a guild's catalog, with one track lookup.

:meth:`Ingest.ingest` is the use case: the catalog entry for an :class:`AudioSource`, found by
its source (one lookup), else downloaded (an attachment's bytes, or a link in a fetch worker),
analyzed in the pool (or its stored analysis reused) and added. Work under way is shared: the
same audio is analyzed once and the same attachment or link downloaded once, however many ask
at the same time. The lower steps (:meth:`analyze`, :meth:`add_track`, :meth:`add_attachment`,
:meth:`add_link`) look nothing up by source; they are what ingest, imports and reindex build on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bot.service.convert import analysis_to_record, record_to_analysis
from bot.service.core import ServiceCore
from bot.service.errors import NotMusicError
from bot.service.results import AudioSource, ProgressCallback, ProgressEvent, Ready, Stored
from inference.analysis import content_hash
from inference.errors import EarwormError, NotAudioLink
from inference.result import Analysis

if TYPE_CHECKING:
    from bot.fetch import FetchedAudio
    from storage.records import SourceKind, TrackRecord

log = logging.getLogger(__name__)

LinkItems = list[tuple["FetchedAudio", "tuple[Analysis, bool] | EarwormError"]]


class Ingest(ServiceCore):
    async def ingest(
        self,
        guild_id: int,
        source: AudioSource,
        *,
        requester: int | None = None,
        progress: ProgressCallback | None = None,
        ready: Ready | None = None,
    ) -> Stored:
        """The catalog entry for ``source`` in the guild, with its analysis: found by its
        source (one lookup), else fetched, analyzed (or reused) and added, credited to
        ``source.shared_by``.

        ``requester`` (a user id) takes one of the admission slots for the call: a refusal
        (``Refused``) is raised before anything else, and then ``ready()`` is awaited (a front
        end's acknowledgement); a source with no ``source_url`` (a file given straight to a
        command) records what ``ready()`` returns, if a URL: where the answer is shown.
        ``progress`` hears "downloading" and "analyzing" on the event loop. Raises ``NotMusicError`` for speech, silence and noise (nothing is added) and other
        ``EarwormError`` s for refusals and failures.
        """
        async with self._admission(requester):  # a refusal comes before anything else
            if ready is not None:
                where = await ready()
                if source.source_url is None and isinstance(where, str):
                    source = replace(source, source_url=where)  # the answer is where it was shared
            track = await self._find(guild_id, source)
            found = await self._with_analysis(track) if track is not None else None
            return found or await self._add(guild_id, source, progress)

    async def _entry(self, guild_id: int, source: AudioSource, requester: int | None) -> TrackRecord:
        """The catalog entry for ``source`` (one lookup), added first if need be. Admission
        (``requester``) only when this call starts work: finding the entry or joining work
        already under way costs no slot."""
        track = await self._find(guild_id, source)
        if track is not None:
            return track
        async with self._admission(None if self._in_flight(source) else requester):
            return (await self._add(guild_id, source, None)).track

    def _admission(self, requester: int | None) -> AbstractAsyncContextManager[object]:
        """One of the requester's job slots for the block (``Refused`` at once if none is free);
        nothing for work nobody asked for in person (``requester`` None)."""
        return self.limiter.slot(requester) if requester is not None else contextlib.nullcontext()

    async def _find(self, guild_id: int, source: AudioSource) -> TrackRecord | None:
        """The one track lookup: by the source the catalog recorded. Files are not looked up
        by path (the file may have changed): their content finds their entry when added."""
        if source.kind == "file" or not source.source_url:
            return None
        return await self.db.find_track_by_source(guild_id, source.source_url)

    async def _with_analysis(self, track: TrackRecord) -> Stored | None:
        record = await self.db.get_analysis(track.content_hash)
        if record is None:
            return None
        return Stored(track, record_to_analysis(record, track.title), False, True)

    def _in_flight(self, source: AudioSource) -> bool:
        return _work_key(source.kind, source.location) in self._fetches

    async def _add(self, guild_id: int, source: AudioSource, progress: ProgressCallback | None) -> Stored:
        def report(stage: str) -> None:
            if progress is not None:
                progress(ProgressEvent(stage))

        if source.kind == "file":
            return await self.add_track(guild_id, source.location, title=source.title, source_kind="file", source_url=source.source_url, added_by=source.shared_by)
        report("downloading")
        if source.kind == "attachment":
            if source.read is None:
                raise TypeError("an attachment source needs read()")
            return await self.add_attachment(
                guild_id, source.location, source.read, title=source.title, source_url=source.source_url, added_by=source.shared_by, downloaded=lambda: report("analyzing")
            )
        results = await self.add_link(guild_id, source.location, source.shared_by, progress=progress)
        if not results:
            raise NotAudioLink("I couldn't find any audio at that link.")
        first = results[0]
        if isinstance(first, EarwormError):
            raise first
        return first

    # ------------------------------------------------------------------ the steps below

    async def analyze(self, source: str | os.PathLike | bytes, title: str = "") -> tuple[Analysis, bool]:
        """An analysis of this audio, reused from the database when this model made one; the
        same audio asked for while it is being analyzed waits for that one analysis."""
        # Hash in a thread: attachments can be tens of MB and the event loop must stay free.
        digest = content_hash(source) if isinstance(source, bytes) and len(source) < 1 << 20 else await asyncio.to_thread(content_hash, source)
        analysis, reused = await self._analyses.run(digest, lambda: self._analyze_once(source, title, digest))
        return (replace(analysis, title=title) if title and analysis.title != title else analysis), reused

    async def _analyze_once(self, source: str | os.PathLike | bytes, title: str, digest: str) -> tuple[Analysis, bool]:
        record = await self.db.get_analysis(digest, self.model_version)
        if record is not None:
            return record_to_analysis(record, title), True
        analysis = await self.engine.analyze(source, title, digest)  # the worker need not hash again
        await self.db.put_analysis(analysis_to_record(analysis))
        return analysis, False

    async def add_track(
        self,
        guild_id: int,
        source: str | os.PathLike | bytes,
        *,
        title: str,
        source_kind: SourceKind,
        source_url: str | None,
        added_by: int | None,
    ) -> Stored:
        """Analyze (or reuse) and add to the guild's catalog. Raises NotMusicError for non-music."""
        analysis, reused = await self.analyze(source, title)
        return await self._store(guild_id, analysis, reused, title=title, source_kind=source_kind, source_url=source_url, added_by=added_by)

    async def _store(self, guild_id: int, analysis: Analysis, reused: bool, *, title: str, source_kind: SourceKind, source_url: str | None, added_by: int | None) -> Stored:
        if not analysis.is_music:
            raise NotMusicError(analysis)
        track, created = await self.db.add_track(guild_id, analysis.content_hash, title or analysis.title, source_kind, source_url, added_by)
        return Stored(track, analysis, created, reused)

    async def add_attachment(
        self,
        guild_id: int,
        url: str,
        read: Callable[[], Awaitable[bytes]],
        *,
        title: str,
        source_url: str | None,
        added_by: int | None,
        downloaded: Callable[[], None] | None = None,
    ) -> Stored:
        """Download an attachment (``read()``), analyze it (or reuse) and add it to the guild's
        catalog. Everyone asking for the same ``url`` while that is under way shares the one
        download and analysis (``downloaded`` is called after the download, if this call made it)."""

        async def work() -> tuple[Analysis, bool]:
            data = await read()
            if downloaded is not None:
                downloaded()
            return await self.analyze(data, title)

        analysis, reused = await self._fetches.run(_work_key("attachment", url), work)
        return await self._store(guild_id, analysis, reused, title=title, source_kind="attachment", source_url=source_url, added_by=added_by)

    async def add_link(
        self, guild_id: int, url: str, added_by: int | None, *, playlist: bool = False, progress: ProgressCallback | None = None
    ) -> list[Stored | EarwormError]:
        """Fetch a link (or a bounded playlist) and add each item; per-item errors are returned.
        The same link asked for while it is being fetched is fetched and analyzed once."""
        results: list[Stored | EarwormError] = []
        for item, outcome in await self._analyzed_link(url, playlist, progress):
            try:
                if isinstance(outcome, EarwormError):
                    raise outcome
                results.append(await self._store(guild_id, *outcome, title=item.title, source_kind="link", source_url=item.url, added_by=added_by))
            except EarwormError as exc:
                results.append(exc)
        return results

    async def _analyzed_link(self, url: str, playlist: bool, progress: ProgressCallback | None) -> LinkItems:
        """A link's items with their analyses (or why each failed), fetched once for everyone
        who asks meanwhile; every one of them hears the download's progress."""
        key = _work_key("link", url, playlist)
        listeners = self._link_progress.setdefault(key, [])
        relay = _relay(progress) if progress is not None else None
        if relay is not None:
            listeners.append(relay)

        def fan_out(event: dict) -> None:  # the fetcher calls it on the event loop
            for listener in list(listeners):
                listener(event)

        async def work() -> LinkItems:
            tmp, items = await self.fetch_link(url, playlist=playlist, progress=fan_out)
            try:
                out: LinkItems = []
                for item in items:
                    try:
                        out.append((item, await self.analyze(item.path, item.title)))
                    except EarwormError as exc:
                        out.append((item, exc))
                return out
            finally:
                self.discard_download(tmp)

        try:
            return await self._fetches.run(key, work)
        finally:
            if relay is not None and relay in listeners:
                listeners.remove(relay)
            if not listeners and self._link_progress.get(key) is listeners:
                del self._link_progress[key]

    async def fetch_link(self, url: str, *, playlist: bool = False, progress: Callable[[dict], None] | None = None) -> tuple[Path, list[FetchedAudio]]:
        """Download a link's audio in a fetch worker process, killed if it overruns its time
        limit (never on the event loop). The caller removes the returned temporary directory
        (``discard_download``)."""
        tmp = Path(tempfile.mkdtemp(prefix="earworm-dl-"))
        try:
            items = await self.fetcher.fetch(url, tmp, playlist=playlist, progress=progress)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp, items

    @staticmethod
    def discard_download(directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)


def _work_key(kind: SourceKind, location: str, playlist: bool = False) -> tuple:
    """The key of the shared download + analysis of an attachment or a link (a link fetched
    as a playlist is other work than the same link as one track); a file is never shared."""
    if kind == "link":
        return ("link", location, playlist)
    return (kind, location)


def _relay(progress: ProgressCallback) -> Callable[[dict], None]:
    """Fetch events (which the fetcher delivers on the event loop) as :class:`ProgressEvent` s;
    a finished download reads as "analyzing" its ``items``."""
    items: int | None = None

    def on_fetch(event: dict) -> None:
        nonlocal items
        if event.get("items"):
            items = int(event["items"])
        stage = event.get("stage")
        if stage == "done":
            update = ProgressEvent("analyzing", items=items)
        elif stage in ("resolving", "downloading", "checking"):
            item = event.get("item")
            update = ProgressEvent(stage, event.get("fraction"), int(item) if item else None, items)
        else:
            return
        progress(update)

    return on_fetch
