"""The application service: every use case, shared by the CLI and the Discord bot.

:class:`EarwormService` is the use cases put together over one :class:`~bot.service.core.ServiceCore`
(database, engine, fetcher, admission, catalogs):

- :mod:`~bot.service.ingest`: find, fetch or analyze audio into a catalog (one lookup);
- :mod:`~bot.service.likes`: like and unlike tracks or shared audio, a user's likes by page;
- :mod:`~bot.service.recommend`: playlists from likes, similar tracks, party blends;
- :mod:`~bot.service.parties`: the listening-party lifecycle;
- :mod:`~bot.service.catalog`: link imports, folder indexing, catalog statistics;
- :mod:`~bot.service.privacy`: forget a user; :mod:`~bot.service.reindex`: move to a new model.

Front ends parse their input, call one method and present what it returns. Nothing here knows
Discord or the terminal; nothing here does maths beyond calling ``inference``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.fetch import FetchLimits
from bot.service.catalog import Catalogs
from bot.service.engine import AnalysisEngine, EngineConfig
from bot.service.likes import Likes
from bot.service.parties import Parties
from bot.service.privacy import Privacy
from bot.service.reindex import Reindex
from storage.db import Database
from storage.failures import storage_error


class EarwormService(Likes, Parties, Catalogs, Privacy, Reindex):
    @classmethod
    async def open(
        cls,
        db_path: str | os.PathLike,
        engine_config: EngineConfig | None = None,
        fetch_limits: FetchLimits | None = None,
        *,
        verify_db: bool = False,
        start_workers: bool = True,
    ) -> EarwormService:
        """Open the database (``verify_db``: check the whole file first) and, with
        ``start_workers``, start the analysis workers now (else on the first analysis: commands
        that never analyze never start them). An unusable database raises a StorageError that
        says what to do."""
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, str(db_path)) from exc
        db = await Database.open(db_path, verify=verify_db)
        engine = AnalysisEngine(engine_config)
        if start_workers:
            try:
                await engine.start()
            except BaseException:
                await db.close()
                raise
        return cls(db, engine, fetch_limits)
