"""The analysis engine as the service sees it: a worker pool running ``analyze_job``, started
on first use.

``await engine.analyze(path_or_bytes, title)``; the pool keeps the event loop free, isolates
crashes and enforces per-job time limits. Commands that never analyze (``earworm forget``,
``recommend``, ``party``) never start it; the bot starts it at once (:meth:`start`) so the first
request does not wait for the models to load.

:class:`EngineConfig` holds the one set of defaults for the engine and its admission limits;
``bot.config.Settings`` takes its defaults from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from inference.lazy_pool import LazyPool
from inference.pool import WorkerPool, worker_threads

if TYPE_CHECKING:
    from inference.result import Analysis

MiB = 1024 * 1024


def default_workers() -> int:
    """One worker per CPU this process may use (affinity-aware), 1 to 64."""
    return max(1, min(64, worker_threads()))


@dataclass(frozen=True)
class EngineConfig:
    """The engine's workers and queue, and who may use them (:mod:`bot.service.limits`)."""

    workers: int = field(default_factory=default_workers)
    #: Longest one analysis job may run before its worker is replaced.
    job_timeout_s: float = 120.0
    #: Jobs waiting for a worker before new ones are refused with "busy, try again".
    max_queue: int = 32
    #: The largest input either way in: an attachment or a link's download.
    max_bytes: int = 50 * MiB
    #: Longest decoded audio accepted (checked before decoding everything).
    max_duration_s: float = 20 * 60.0
    #: Analyses one user may have running (or waiting) at once.
    per_user_concurrent: int = 2
    #: Analyses one user may start in any 60-second window.
    per_user_per_minute: int = 6


class AnalysisEngine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._lazy = LazyPool(self._new_pool)  # started on first use; a failed start is retried

    def _new_pool(self) -> WorkerPool:
        return WorkerPool(
            workers=self.config.workers,
            initializer=_init_worker,
            job_timeout_s=self.config.job_timeout_s,
            max_queue=self.config.max_queue,
        )

    @property
    def pool(self) -> WorkerPool:
        """The current pool (a fresh one after a failed start)."""
        return self._lazy.pool

    @property
    def started(self) -> bool:
        return self._lazy.started

    async def start(self) -> AnalysisEngine:
        """Start the workers (once; later calls wait for the first). A start that failed is
        tried again by the next call."""
        await self._lazy.start()
        return self

    async def close(self, cancel_pending: bool = False) -> None:
        await self._lazy.close(cancel_pending=cancel_pending)

    async def __aenter__(self) -> AnalysisEngine:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close(cancel_pending=True)

    async def analyze(self, source: str | os.PathLike | bytes, title: str = "", digest: str | None = None) -> Analysis:
        """Analyze a file path or the file's bytes in a worker (``digest``: its sha256, if known)."""
        from inference.analysis import AnalysisOptions, analyze_job
        from inference.audio import AudioLimits

        await self.start()
        src = source if isinstance(source, bytes) else os.fspath(source)
        options = AnalysisOptions(limits=AudioLimits(max_bytes=self.config.max_bytes, max_duration_s=self.config.max_duration_s))
        return await self.pool.submit(analyze_job, src, title, options, digest)


def _init_worker() -> None:
    """Load the models in a new worker (imported there, not where the engine is made)."""
    from inference.analysis import init_worker

    init_worker()
