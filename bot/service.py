"""The application service: analyse -> store -> recommend, shared by the CLI and the Discord bot.

Holds the database, the analysis engine and a per-guild recommendation catalog cache that the
database's change events keep correct. Nothing here knows Discord; nothing here does maths
beyond calling ``inference``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.convert import analysis_to_record, record_to_analysis
from bot.engine import AnalysisEngine, EngineConfig
from inference.analysis import content_hash, model_version
from inference.errors import EarwormError
from inference.fetch import FetchedAudio, FetchLimits, fetch_audio
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
from storage.records import ForgetReport, SourceKind, StaleAnalysis, TrackRecord
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
        self.model_version = model_version()
        self._catalogs: dict[int, Catalog] = {}
        self._catalog_locks: dict[int, asyncio.Lock] = {}
        self._unsubscribe = db.subscribe(self._on_storage_event)
        # Nearest-neighbour search per guild (exact, or an approximate index for large catalogs).
        self.index = IndexCache(db, model_version=self.model_version)

    @classmethod
    async def open(cls, db_path: str | os.PathLike, engine_config: EngineConfig = EngineConfig(), fetch_limits: FetchLimits = FetchLimits()) -> EarwormService:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        db = await Database.open(db_path)
        engine = AnalysisEngine(engine_config)
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
        await self.engine.close(cancel_pending=cancel_pending)
        await self.db.close()

    # ------------------------------------------------------------------ analyse and store

    async def analyze(self, source: str | os.PathLike | bytes, title: str = "") -> tuple[Analysis, bool]:
        """An analysis of this audio, reused from the database when this model made one."""
        # Hash in a thread: attachments can be tens of MB and the event loop must stay free.
        digest = content_hash(source) if isinstance(source, bytes) and len(source) < 1 << 20 else await asyncio.to_thread(content_hash, source)
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
        if not analysis.is_music:
            raise NotMusicError(analysis)
        track, created = await self.db.add_track(guild_id, analysis.content_hash, title or analysis.title, source_kind, source_url, added_by)
        return Stored(track, analysis, created, reused)

    async def fetch_link(self, url: str, *, playlist: bool = False, progress: Callable[[dict], None] | None = None) -> tuple[Path, list[FetchedAudio]]:
        """Download a link's audio in a thread (never on the event loop). The caller removes the
        returned temporary directory (``discard_download``)."""
        tmp = Path(tempfile.mkdtemp(prefix="earworm-dl-"))
        try:
            items = await asyncio.to_thread(fetch_audio, url, tmp, self.fetch_limits, playlist=playlist, progress=progress)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp, items

    @staticmethod
    def discard_download(directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    async def add_link(self, guild_id: int, url: str, added_by: int | None, *, playlist: bool = False, progress: Callable[[dict], None] | None = None) -> list[Stored | EarwormError]:
        """Fetch a link (or a bounded playlist) and add each item; per-item errors are returned."""
        existing = None if playlist else await self.db.find_track_by_source(guild_id, url)
        if existing is not None:
            record = await self.db.get_analysis(existing.content_hash)
            if record is not None:
                return [Stored(existing, record_to_analysis(record, existing.title), False, True)]
        tmp, items = await self.fetch_link(url, playlist=playlist, progress=progress)
        try:
            results: list[Stored | EarwormError] = []
            for item in items:
                try:
                    results.append(await self.add_track(guild_id, item.path, title=item.title, source_kind="link", source_url=item.url, added_by=added_by))
                except EarwormError as exc:
                    results.append(exc)
            return results
        finally:
            self.discard_download(tmp)

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
        """The guild's recommendation catalog, cached until a track is added, removed or re-analysed."""
        lock = self._catalog_locks.setdefault(guild_id, asyncio.Lock())
        async with lock:
            if guild_id not in self._catalogs:
                tracks = await self.db.list_tracks(guild_id)
                descriptors = await self.db.track_descriptors(guild_id)
                features = [_features(t, descriptors.get(t.id, {})) for t in tracks if t.model_version == self.model_version]
                self._catalogs[guild_id] = await asyncio.to_thread(Catalog, features)
            return self._catalogs[guild_id]

    async def recommend(self, guild_id: int, user_id: int, n: int = 10) -> Playlist:
        catalog = await self.catalog(guild_id)
        liked = sorted(await self.db.liked_track_ids(guild_id, user_id))
        recent = await self.db.recent_recommendations(guild_id, user_id, limit=RECENT_RECOMMENDATIONS)
        popular = [t.id for t, _ in await self.db.popular_tracks(guild_id, n=max(n, 10))]
        result = await asyncio.to_thread(self._recommend_ordered, liked, catalog, n, recent, popular)
        if not result.picks and recent and liked:
            # Everything close was recommended lately: allow repeats rather than say nothing.
            result = await asyncio.to_thread(self._recommend_ordered, liked, catalog, n, [], popular)
        await self.db.record_recommendations(guild_id, user_id, [p.track_id for p in result.picks])
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
    )
