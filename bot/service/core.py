"""What every use case of the service shares: the database, the analysis engine, the link
fetcher, the admission limits, the recommendation catalogs and the work in flight.

The use cases (:mod:`~bot.service.ingest`, :mod:`~bot.service.likes`, ...) are classes over this
core; :class:`~bot.service.app.EarwormService` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.fetch import FetchLimits, LinkFetcher
from bot.service.catalog_cache import CatalogCache
from bot.service.engine import AnalysisEngine
from bot.service.inflight import InFlight
from bot.service.limits import JobLimiter
from inference.analysis import model_version
from inference.result import Analysis
from storage.db import Database
from storage.vectors import IndexCache


class ServiceCore:
    def __init__(self, db: Database, engine: AnalysisEngine, fetch_limits: FetchLimits | None = None) -> None:
        self.db = db
        self.engine = engine  # its workers start on the first analysis (or engine.start())
        self.fetch_limits = fetch_limits or FetchLimits()
        self.fetcher = LinkFetcher(self.fetch_limits)  # its worker processes start on the first link
        #: Admission: who may start an analysis now (one limiter for every front end).
        self.limiter = JobLimiter.from_config(engine.config)
        self.model_version = model_version()
        self.catalogs = CatalogCache(db, self.model_version)
        # Nearest-neighbour search per guild (exact, or an approximate index for large catalogs).
        self.index = IndexCache(db, model_version=self.model_version)
        # Work in flight, shared by everyone who asks for the same thing meanwhile.
        self._analyses: InFlight[str, tuple[Analysis, bool]] = InFlight()  # by content hash
        self._fetches: InFlight[tuple, object] = InFlight()  # by attachment URL or link
        self._link_progress: dict[tuple, list[Callable[[dict], None]]] = {}
        self._importing: set[int] = set()  # guilds with a catalog import running

    async def aclose(self, cancel_pending: bool = True) -> None:
        """Finish or cancel jobs, then close the database (SIGTERM path)."""
        self.catalogs.close()
        self.index.close()
        await self.fetcher.close()
        await self.engine.close(cancel_pending=cancel_pending)
        await self._fetches.aclose()
        await self._analyses.aclose()
        await self.db.close()
