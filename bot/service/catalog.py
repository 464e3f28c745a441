"""A guild's catalog as a whole: import a link (a track or a playlist), index a folder of files,
and the catalog's statistics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.service.errors import ImportRunning, NotMusicError
from bot.service.ingest import Ingest
from bot.service.results import CatalogStats, ProgressCallback, Ready, Stored, TrackRecord
from inference.errors import EarwormError

log = logging.getLogger(__name__)


@dataclass
class ImportSummary:
    """What an import did: the tracks it added, those the catalog already had, and why each of
    the others failed."""

    added: list[Stored] = field(default_factory=list)
    already: list[Stored] = field(default_factory=list)
    failed: list[EarwormError] = field(default_factory=list)

    @classmethod
    def of(cls, results: Sequence[Stored | EarwormError]) -> ImportSummary:
        summary = cls()
        for r in results:
            if isinstance(r, Exception):
                summary.failed.append(r)
            elif r.created:
                summary.added.append(r)
            else:
                summary.already.append(r)
        return summary

    @property
    def total(self) -> int:
        return len(self.added) + len(self.already) + len(self.failed)


@dataclass
class IndexCounts:
    added: int = 0
    already: int = 0
    not_music: int = 0
    failed: int = 0


#: ``on_file(path, outcome)``: a file's catalog entry, or why it was not added.
FileOutcome = Callable[[Path, "Stored | BaseException"], None]


class Catalogs(Ingest):
    async def import_link(
        self, guild_id: int, url: str, requester: int, *, progress: ProgressCallback | None = None, ready: Ready | None = None
    ) -> ImportSummary:
        """Add a link's track, or a playlist's (at most ``fetch_limits.max_playlist_items``),
        to the guild's catalog, credited to ``requester``. One import at a time per guild
        (``ImportRunning``), and one admission slot for the whole import; ``ready()`` is
        awaited once admitted. A link that fails as a whole raises its ``EarwormError``."""
        if guild_id in self._importing:
            raise ImportRunning("An import is already running in this server; try again when it has finished.")
        async with self.limiter.slot(requester):
            self._importing.add(guild_id)
            try:
                if ready is not None:
                    await ready()
                results = await self.add_link(guild_id, url, requester, playlist=True, progress=progress)
            finally:
                self._importing.discard(guild_id)
        summary = ImportSummary.of(results)
        log.info("import of %s into guild %s: added %d, already %d, failed %d", url, guild_id, len(summary.added), len(summary.already), len(summary.failed))
        return summary

    async def index_files(self, guild_id: int, files: Sequence[Path], added_by: int | None, on_file: FileOutcome | None = None) -> IndexCounts:
        """Analyze files (all at once; the pool queues them) into the guild's catalog. One
        file's failure, even an unexpected one, never stops the others."""
        counts = IndexCounts()

        async def one(path: Path) -> None:
            outcome: Stored | BaseException
            try:
                outcome = await self.add_track(guild_id, path, title=path.stem, source_kind="file", source_url=str(path.resolve()), added_by=added_by)
                if outcome.created:
                    counts.added += 1
                else:
                    counts.already += 1
            except NotMusicError as exc:
                counts.not_music += 1
                outcome = exc
            except EarwormError as exc:
                counts.failed += 1
                outcome = exc
            except Exception as exc:  # a bug or a fault on one file must not stop the batch
                log.error("indexing %s failed: %r", path, exc, exc_info=log.isEnabledFor(logging.INFO))
                counts.failed += 1
                outcome = exc
            if on_file is not None:
                on_file(path, outcome)

        await asyncio.gather(*(one(p) for p in files))
        return counts

    async def catalog_stats(self, guild_id: int) -> CatalogStats:
        return await self.db.catalog_stats(guild_id)

    async def list_tracks(self, guild_id: int) -> list[TrackRecord]:
        """Every entry of the guild's catalog."""
        return await self.db.list_tracks(guild_id)
