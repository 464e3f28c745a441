"""Reindex: move every stored analysis to this model version, one track at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.service.convert import analysis_to_record
from bot.service.ingest import Ingest
from inference.errors import EarwormError
from storage.records import StaleAnalysis


class Reindex(Ingest):
    async def reindex(self, progress: Callable[[int, int, str], None] | None = None) -> tuple[int, list[str]]:
        """Move every stored analysis to this model version; returns (moved count, problems).

        Each stale analysis is re-analyzed from a catalog file still on disk (with the same
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
                problem = await self._reanalyze(item)
            except EarwormError as exc:
                problem = f"{item.content_hash[:12]}: {exc}"
            if problem is None:
                done += 1
            else:
                problems.append(problem)
            if progress:
                progress(i + 1, len(stale), problem or "moved")
        return done, problems

    async def _reanalyze(self, item: StaleAnalysis) -> str | None:
        """Re-analyze one stale analysis from its file or link; None when done, else why not."""
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
