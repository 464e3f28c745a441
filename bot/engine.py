"""The analysis engine as the application sees it: a worker pool running ``analyze_job``.

Front ends (CLI, Discord) call ``await engine.analyze(path_or_bytes, title)``; the pool keeps
the event loop free, isolates crashes and enforces per-job time limits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings, default_workers
from inference.analysis import AnalysisOptions, analyze_job, init_worker
from inference.audio import AudioLimits
from inference.pool import WorkerPool
from inference.result import Analysis


def _default(name: str) -> Any:
    """A setting's default: the engine's defaults are the configuration's (bot/config.py)."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class EngineConfig:
    workers: int = field(default_factory=default_workers)
    job_timeout_s: float = _default("job_timeout_s")
    max_queue: int = _default("max_queue")
    #: The largest input either way in: an attachment or a link's download.
    max_bytes: int = max(_default("max_attachment_bytes"), _default("max_download_bytes"))
    max_duration_s: float = _default("max_duration_s")

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        """The engine the configured bot runs (``earworm run``)."""
        return cls(
            workers=settings.workers,
            job_timeout_s=settings.job_timeout_s,
            max_queue=settings.max_queue,
            max_bytes=max(settings.max_attachment_bytes, settings.max_download_bytes),
            max_duration_s=settings.max_duration_s,
        )

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
