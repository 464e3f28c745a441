"""The analysis engine as the application sees it: a worker pool running ``analyze_job``.

Front ends (CLI, Discord) call ``await engine.analyze(path_or_bytes, title)``; the pool keeps
the event loop free, isolates crashes and enforces per-job time limits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from inference.analysis import AnalysisOptions, analyze_job, init_worker
from inference.audio import AudioLimits
from inference.pool import WorkerPool
from inference.result import Analysis


@dataclass(frozen=True)
class EngineConfig:
    workers: int = max(1, os.cpu_count() or 1)
    job_timeout_s: float = 120.0
    max_queue: int = 32
    max_bytes: int = 50 * 2**20
    max_duration_s: float = 20 * 60

    @property
    def options(self) -> AnalysisOptions:
        return AnalysisOptions(limits=AudioLimits(max_bytes=self.max_bytes, max_duration_s=self.max_duration_s))


class AnalysisEngine:
    def __init__(self, config: EngineConfig = EngineConfig()) -> None:
        self.config = config
        self.pool = WorkerPool(
            workers=config.workers,
            initializer=init_worker,
            job_timeout_s=config.job_timeout_s,
            max_queue=config.max_queue,
        )

    async def start(self) -> AnalysisEngine:
        await self.pool.start()
        return self

    async def close(self, cancel_pending: bool = False) -> None:
        await self.pool.close(cancel_pending=cancel_pending)

    async def __aenter__(self) -> AnalysisEngine:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close(cancel_pending=True)

    async def analyze(self, source: str | os.PathLike | bytes, title: str = "", digest: str | None = None) -> Analysis:
        """Analyse a file path or the file's bytes in a worker (``digest``: its sha256, if known)."""
        src = source if isinstance(source, bytes) else os.fspath(source)
        return await self.pool.submit(analyze_job, src, title, self.config.options, digest)
