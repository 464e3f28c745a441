"""Link downloads in worker processes that are killed when their time is up.

``fetch_audio`` stops network waits at its deadline, but yt-dlp's extractors parse pages in pure
Python, and a hostile page (a few MB of ``<audio>`` tags) keeps one busy for many seconds past
it: nothing in the same process can interrupt that, and in a thread of the bot it would also
hold the GIL against the event loop. So each fetch runs in a pool worker (``inference.pool``): the
fetch's own watchdog answers at ``timeout_s``; a worker still busy ``KILL_GRACE_S`` later is
killed and replaced, and the caller gets the same "took longer than" message. Progress events
come back through the pool, on the event loop.

Workers start on the first fetch (front ends that never fetch pay nothing; a failed start is
tried again by the next fetch, ``inference.lazy_pool``) and pay yt-dlp's
start-up cost (``warm_up``) before their first job, outside any job's time limit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.fetch.download import fetch_audio
from bot.fetch.limits import FetchedAudio, FetchLimits, ProgressCallback, download_timeout
from bot.fetch.ytdlp import warm_up
from inference.errors import FetchError, JobTimeout, WorkerCrashed
from inference.lazy_pool import LazyPool
from inference.pool import PoolStats, WorkerPool, report_progress

__all__ = ["KILL_GRACE_S", "LinkFetcher"]

log = logging.getLogger(__name__)

KILL_GRACE_S = 3.0  # past the fetch's own deadline, before its worker is killed


def fetch_job(url: str, dest_dir: str, limits: FetchLimits, playlist: bool) -> list[FetchedAudio]:
    """What a fetch worker runs (module-level, so it pickles)."""
    return fetch_audio(url, Path(dest_dir), limits, playlist=playlist, progress=report_progress)


class LinkFetcher:
    """``await fetcher.fetch(url, dest_dir)``: ``fetch_audio`` in a killable worker process."""

    def __init__(
        self,
        limits: FetchLimits,
        workers: int = 2,
        max_queue: int = 16,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        self.limits = limits
        # Started on the first fetch; a start that failed is tried again by the next one.
        self._pool = LazyPool(
            lambda: WorkerPool(
                workers=workers,
                initializer=warm_up,
                job_timeout_s=limits.timeout_s + kill_grace_s,
                max_queue=max_queue,
                threads_per_worker=1,
            )
        )

    async def fetch(
        self,
        url: str,
        dest_dir: Path,
        *,
        playlist: bool = False,
        progress: ProgressCallback | None = None,
    ) -> list[FetchedAudio]:
        """Download ``url`` into ``dest_dir`` (see ``fetch_audio``); ``progress`` is called on
        the event loop. Raises ``FetchError`` subclasses, or ``PoolBusy`` when too many fetches
        wait. A killed fetch may leave partial files in ``dest_dir``: the caller removes it."""
        pool = await self._pool.start()
        try:
            return await pool.submit(
                fetch_job, url, str(dest_dir), self.limits, playlist, on_progress=progress
            )
        except JobTimeout:
            log.warning("fetch of %s overran its deadline: its worker was killed", url)
            raise download_timeout(self.limits) from None
        except WorkerCrashed as exc:
            log.warning("fetch worker crashed on %s: %s", url, exc)
            raise FetchError("The downloader stopped unexpectedly on that link.") from None

    async def close(self) -> None:
        await self._pool.close(cancel_pending=True)

    async def worker_pids(self) -> list[int]:
        """The process ids of the (started) workers, one ping each."""
        return await (await self._pool.start()).warmup()

    def stats(self) -> PoolStats:
        return self._pool.pool.stats()
