"""The application service: analyse -> store -> recommend, shared by the CLI and the Discord bot.

Holds the database, the analysis engine and a per-guild recommendation catalog cache that the
database's change events keep correct, writes by other processes included (``earworm index``
into the database the bot serves). Work already under way is shared: the same audio is analysed
once and the same link or attachment downloaded once, however many ask at the same time.
Nothing here knows Discord; nothing here does maths beyond calling ``inference``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from bot.service.convert import analysis_to_record, record_to_analysis
from bot.service.engine import AnalysisEngine, EngineConfig
from bot.service.inflight import InFlight
from inference.analysis import content_hash, model_version
from inference.errors import EarwormError
from inference.fetch import FetchedAudio, FetchLimits
from inference.link_fetcher import LinkFetcher
from inference.recommend import (
    Catalog,
    PartyPlaylist,
    Recommendation,
    TrackFeatures,
    blend_party,
    order_playlist,
    recommend,
)
from inference.result import Analysis
from storage.db import Database
from storage.failures import storage_error
from storage.records import (
    DatabaseCorrupt,
    DatabaseReadOnly,
    ExternalChange,
    ForgetReport,
    SourceKind,
    StaleAnalysis,
    StorageError,
    StorageFull,
    TrackRecord,
)
from storage.vectors import IndexCache

log = logging.getLogger(__name__)

RECENT_RECOMMENDATIONS = 50  # a user's last N recommendations are not repeated


class NotMusicError(EarwormError):
    """Analysed fine, but it is not music: not added to the catalog."""

    code = "not_music"

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(f"This doesn't sound like music (it sounds like {analysis.not_music_reason}), so I didn't add it.")
        self.analysis = analysis


class UnknownTrack(EarwormError):
    code = "unknown_track"


#: Added to a playlist's note when its picks could not be remembered (the disk is full).
HISTORY_NOT_SAVED = "The server's disk is full, so I couldn't remember these picks: they may come up again. Please tell the bot's admin."


def storage_problem_message(error: BaseException) -> str | None:
    """What a Discord user is told when the database fails (the operator's detail goes to the
    log); None if ``error`` is not a storage failure."""
    if not isinstance(error, StorageError):
        return None
    if isinstance(error, StorageFull):
        return "The server's disk is full, so I couldn't save that. Try again later, or tell the bot's admin."
    if isinstance(error, DatabaseReadOnly):
        return "I can't save anything right now: my database is read-only. Please tell the bot's admin."
    if isinstance(error, DatabaseCorrupt):
        return "My database is damaged, so I couldn't do that. Please tell the bot's admin."
    return "I can't reach my database right now. Try again in a minute, or tell the bot's admin."


@dataclass(frozen=True)
class Stored:
    """A track in a guild's catalog and its analysis."""

    track: TrackRecord
    analysis: Analysis
    created: bool  # a new catalog entry (False: this guild already had this audio)
    reused_analysis: bool  # the analysis came from the database, not a new run


@dataclass(frozen=True)
class Playlist:
    """Recommendations with the catalog entries they point at, in listening order."""

    result: Recommendation
    tracks: dict[int, TrackRecord]


@dataclass(frozen=True)
class PartyResult:
    result: PartyPlaylist
    tracks: dict[int, TrackRecord]


class EarwormService:
    def __init__(self, db: Database, engine: AnalysisEngine, fetch_limits: FetchLimits = FetchLimits()) -> None:
        self.db = db
        self.engine = engine
        self.fetch_limits = fetch_limits
        self.fetcher = LinkFetcher(fetch_limits)  # its worker processes start on the first link
        self.model_version = model_version()
        self._catalogs: dict[int, Catalog] = {}
        self._catalog_changes = 0  # storage events seen: a catalog built across one is not kept
        self._catalog_locks: dict[int, asyncio.Lock] = {}
        # Work in flight, shared by everyone who asks for the same thing meanwhile.
        self._analyses: InFlight[str, tuple[Analysis, bool]] = InFlight()  # by content hash
        self._fetches: InFlight[tuple, object] = InFlight()  # by attachment URL or link
        self._link_progress: dict[tuple, list[Callable[[dict], None]]] = {}
        self._unsubscribe = db.subscribe(self._on_storage_event)
        # Nearest-neighbour search per guild (exact, or an approximate index for large catalogs).
        self.index = IndexCache(db, model_version=self.model_version)

    @classmethod
    async def open(cls, db_path: str | os.PathLike, engine_config: EngineConfig | None = None, fetch_limits: FetchLimits = FetchLimits(), *, verify_db: bool = False) -> EarwormService:
        """Open the database (``verify_db``: check the whole file first), then start the workers.
        An unusable database raises a StorageError that says what to do."""
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, str(db_path)) from exc
        db = await Database.open(db_path, verify=verify_db)
        engine = AnalysisEngine(engine_config or EngineConfig())
        try:
            await engine.start()
        except BaseException:
            await db.close()
            raise
        return cls(db, engine, fetch_limits)

    async def aclose(self, cancel_pending: bool = True) -> None:
        """Finish or cancel jobs, then close the database (SIGTERM path)."""
        self._unsubscribe()
        self.index.close()
        await self.fetcher.close()
        await self.engine.close(cancel_pending=cancel_pending)
        await self._fetches.aclose()
        await self._analyses.aclose()
        await self.db.close()

    # ------------------------------------------------------------------ analyse and store

    async def analyze(self, source: str | os.PathLike | bytes, title: str = "") -> tuple[Analysis, bool]:
        """An analysis of this audio, reused from the database when this model made one; the
        same audio asked for while it is being analysed waits for that one analysis."""
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
        """Analyse (or reuse) and add to the guild's catalog. Raises NotMusicError for non-music."""
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
        """Download an attachment (``read()``), analyse it (or reuse) and add it to the guild's
        catalog. Everyone asking for the same ``url`` while that is under way shares the one
        download and analysis (``downloaded`` is called after the download, if this call made it)."""

        async def work() -> tuple[Analysis, bool]:
            data = await read()
            if downloaded is not None:
                downloaded()
            return await self.analyze(data, title)

        analysis, reused = await self._fetches.run(("attachment", url), work)
        return await self._store(guild_id, analysis, reused, title=title, source_kind="attachment", source_url=source_url, added_by=added_by)

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

    async def add_link(self, guild_id: int, url: str, added_by: int | None, *, playlist: bool = False, progress: Callable[[dict], None] | None = None) -> list[Stored | EarwormError]:
        """Fetch a link (or a bounded playlist) and add each item; per-item errors are returned.
        The same link asked for while it is being fetched is fetched and analysed once."""
        existing = None if playlist else await self.db.find_track_by_source(guild_id, url)
        if existing is not None:
            record = await self.db.get_analysis(existing.content_hash)
            if record is not None:
                return [Stored(existing, record_to_analysis(record, existing.title), False, True)]
        results: list[Stored | EarwormError] = []
        for item, outcome in await self._analysed_link(url, playlist, progress):
            try:
                if isinstance(outcome, EarwormError):
                    raise outcome
                results.append(await self._store(guild_id, *outcome, title=item.title, source_kind="link", source_url=item.url, added_by=added_by))
            except EarwormError as exc:
                results.append(exc)
        return results

    async def _analysed_link(self, url: str, playlist: bool, progress: Callable[[dict], None] | None) -> list[tuple[FetchedAudio, tuple[Analysis, bool] | EarwormError]]:
        """A link's items with their analyses (or why each failed), fetched once for everyone
        who asks meanwhile; every one of them hears the download's progress."""
        key = ("link", url, playlist)
        listeners = self._link_progress.setdefault(key, [])
        if progress is not None:
            listeners.append(progress)

        def fan_out(event: dict) -> None:  # runs in the download thread
            for listener in list(listeners):
                listener(event)

        async def work() -> list[tuple[FetchedAudio, tuple[Analysis, bool] | EarwormError]]:
            tmp, items = await self.fetch_link(url, playlist=playlist, progress=fan_out)
            try:
                out: list[tuple[FetchedAudio, tuple[Analysis, bool] | EarwormError]] = []
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
            if progress is not None and progress in listeners:
                listeners.remove(progress)
            if not listeners and self._link_progress.get(key) is listeners:
                del self._link_progress[key]

    # ------------------------------------------------------------------ likes

    async def like(self, guild_id: int, user_id: int, track_id: int) -> bool:
        if await self.db.get_track(guild_id, track_id) is None:
            raise UnknownTrack("That track is not in this server's catalog any more.")
        return await self.db.like(guild_id, user_id, track_id)

    async def unlike(self, guild_id: int, user_id: int, track_id: int) -> bool:
        return await self.db.unlike(guild_id, user_id, track_id)

    async def forget(self, user_id: int) -> ForgetReport:
        return await self.db.forget_user(user_id)

    # ------------------------------------------------------------------ recommendations

    async def catalog(self, guild_id: int) -> Catalog:
        """The guild's recommendation catalog, cached until a track is added, removed or
        re-analysed, here or by another process (checked first: one cheap PRAGMA)."""
        await self.db.notice_external_writes()
        lock = self._catalog_locks.setdefault(guild_id, asyncio.Lock())
        async with lock:
            cached = self._catalogs.get(guild_id)
            if cached is not None:
                return cached
            changes = self._catalog_changes
            tracks = await self.db.list_tracks(guild_id)
            descriptors = await self.db.track_descriptors(guild_id)
            features = [_features(t, descriptors.get(t.id, {})) for t in tracks if t.model_version == self.model_version]
            catalog = await asyncio.to_thread(Catalog, features)
            if changes == self._catalog_changes:  # else a change landed meanwhile: build anew next time
                self._catalogs[guild_id] = catalog
            return catalog

    async def recommend(self, guild_id: int, user_id: int, n: int = 10) -> Playlist:
        catalog = await self.catalog(guild_id)
        liked = sorted(await self.db.liked_track_ids(guild_id, user_id))
        recent = await self.db.recent_recommendations(guild_id, user_id, limit=RECENT_RECOMMENDATIONS)
        popular = [t.id for t, _ in await self.db.popular_tracks(guild_id, n=max(n, 10))]
        result = await asyncio.to_thread(self._recommend_ordered, liked, catalog, n, recent, popular)
        if not result.picks and recent and liked:
            # Everything close was recommended lately: allow repeats rather than say nothing.
            result = await asyncio.to_thread(self._recommend_ordered, liked, catalog, n, [], popular)
        try:
            await self.db.record_recommendations(guild_id, user_id, [p.track_id for p in result.picks])
        except StorageFull as exc:  # the playlist is still worth having; say what was not saved
            log.error("recommendation history not saved: %s", exc)
            result = replace(result, note=f"{result.note} {HISTORY_NOT_SAVED}" if result.note else HISTORY_NOT_SAVED)
        return Playlist(result, await self._tracks(guild_id, [p.track_id for p in result.picks]))

    @staticmethod
    def _recommend_ordered(liked: list[int], catalog: Catalog, n: int, recent: Iterable[int], popular: list[int]) -> Recommendation:
        rec = recommend(liked, catalog, n, exclude=recent, popular_ids=popular)
        return Recommendation(order_playlist(rec.picks, catalog), rec.note, rec.profile, rec.cold_start)

    async def party_playlist(self, guild_id: int, member_ids: Iterable[int], n: int = 15) -> PartyResult:
        catalog = await self.catalog(guild_id)
        members = {uid: sorted(await self.db.liked_track_ids(guild_id, uid)) for uid in member_ids}
        popular = [t.id for t, _ in await self.db.popular_tracks(guild_id, n=max(n, 10))]

        def blend() -> PartyPlaylist:
            party = blend_party(members, catalog, n, popular_ids=popular, include_liked=True)
            return PartyPlaylist(order_playlist(party.picks, catalog), party.members, party.note, party.cold_start)

        result = await asyncio.to_thread(blend)
        return PartyResult(result, await self._tracks(guild_id, [p.track_id for p in result.picks]))

    async def similar_tracks(self, guild_id: int, track_id: int, k: int = 5) -> list[tuple[TrackRecord, float]]:
        """The k catalog tracks that sound most like this one (cosine), itself excluded."""
        track = await self.db.get_track(guild_id, track_id)
        if track is None:
            raise UnknownTrack("That track is not in this server's catalog any more.")
        hits = await self.index.search(guild_id, track.embedding, k, exclude_ids=[track_id])
        tracks = await self._tracks(guild_id, [tid for tid, _ in hits])
        return [(tracks[tid], score) for tid, score in hits if tid in tracks]

    async def _tracks(self, guild_id: int, ids: list[int]) -> dict[int, TrackRecord]:
        return {t.id: t for t in await self.db.get_tracks(guild_id, ids)}

    def _on_storage_event(self, event: object) -> None:
        self._catalog_changes += 1
        if isinstance(event, ExternalChange):  # another process wrote: any catalog may be stale
            self._catalogs.clear()
            return
        guilds = {g for g, _ in getattr(event, "tracks", ())} | ({event.guild_id} if hasattr(event, "guild_id") else set())
        for guild in guilds:
            self._catalogs.pop(guild, None)

    # ------------------------------------------------------------------ maintenance

    async def reindex(self, progress: Callable[[int, int, str], None] | None = None) -> tuple[int, list[str]]:
        """Move every stored analysis to this model version; returns (moved count, problems).

        Each stale analysis is re-analysed from a catalog file still on disk (with the same
        content), else from its link fetched again, and replaces the old one in place: the catalog
        entries, likes, parties and history that point at it are untouched. One track at a time,
        so the workers keep serving everyone else and the bot keeps answering; until a track is
        moved, similarity searches leave it out (embeddings of two models are never compared).
        Audio that can be had neither way (attachments) is reported and moves when shared again.
        ``progress(i, n, note)`` is called after each item.
        """
        stale = await self.db.stale_analyses(self.model_version)
        done, problems = 0, []
        for i, item in enumerate(stale):
            try:
                problem = await self._reanalyse(item)
            except EarwormError as exc:
                problem = f"{item.content_hash[:12]}: {exc}"
            if problem is None:
                done += 1
            else:
                problems.append(problem)
            if progress:
                progress(i + 1, len(stale), problem or "moved")
        return done, problems

    async def _reanalyse(self, item: StaleAnalysis) -> str | None:
        """Re-analyse one stale analysis from its file or link; None when done, else why not."""
        problem = f"{item.content_hash[:12]}: no local file or link to re-read (moves when shared again)"
        files = [s.source_url for s in item.sources if s.source_kind == "file" and s.source_url]
        for path in dict.fromkeys(files):
            if not Path(path).is_file():
                problem = f"{path}: the file is gone"
                continue
            analysis = await self.engine.analyze(path)
            if analysis.content_hash != item.content_hash:
                problem = f"{path}: the file changed since it was indexed"
                continue
            await self.db.put_analysis(analysis_to_record(analysis))
            return None
        links = [s.source_url for s in item.sources if s.source_kind == "link" and s.source_url]
        for url in dict.fromkeys(links):
            tmp, fetched = await self.fetch_link(url)
            try:
                if fetched:
                    # The link may serve other bytes now (re-encoded): it is still this entry's audio.
                    analysis = await self.engine.analyze(fetched[0].path, digest=item.content_hash)
                    await self.db.put_analysis(analysis_to_record(analysis))
                    return None
            finally:
                self.discard_download(tmp)
        return problem


def source_group(track: TrackRecord) -> str:
    """Which picks count as 'one source' for the diversity cap: a link's site + path head, an
    attachment's channel, a file's folder."""
    url = track.source_url or ""
    if track.source_kind == "link":
        parts = urlsplit(url)
        return f"{parts.hostname}/{parts.path.strip('/').split('/')[0]}"
    if track.source_kind == "attachment":
        return url.rsplit("/", 1)[0]
    return str(Path(url).parent) if url else f"user:{track.added_by}"


def _features(track: TrackRecord, descriptors: dict) -> TrackFeatures:
    return TrackFeatures(
        track_id=track.id,
        embedding=track.embedding,
        genres=track.genres,
        tempo_bpm=descriptors.get("tempo_bpm"),
        key=descriptors.get("key"),
        mode=descriptors.get("mode"),
        title=track.title,
        source=source_group(track),
        key_confidence=float(descriptors.get("key_confidence", 1.0)),
    )
