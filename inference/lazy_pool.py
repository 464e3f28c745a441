"""A :class:`~inference.pool.WorkerPool` started on first use, and started again after a failed
start.

A ``WorkerPool`` starts once (a second ``start()`` raises), so whoever starts one lazily must
remember whether it did and, when the start failed (a worker's initializer raised, say), make a
fresh pool for the next try. The analysis engine (``bot.service.engine``) and the link fetcher
(``bot.fetch.runner``) both do that through :class:`LazyPool`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from inference.pool import WorkerPool

__all__ = ["LazyPool"]


class LazyPool:
    """Holds the pool ``make()`` builds; :meth:`start` starts it once (callers meanwhile wait for
    that start) and, when that start failed or was cancelled, swaps in a fresh pool so the next
    call tries again."""

    def __init__(self, make: Callable[[], WorkerPool]) -> None:
        self._make = make
        self.pool = make()
        self._starting: asyncio.Future[None] | None = None

    @property
    def started(self) -> bool:
        """A start is under way or has succeeded (``False`` again after a failed one)."""
        return self._starting is not None

    async def start(self) -> WorkerPool:
        """The started pool. Raises what the pool's start raised; the next call starts anew."""
        starting = self._starting
        if starting is None:
            starting = self._starting = asyncio.ensure_future(self.pool.start())
        try:
            # Shielded: a caller cancelled while waiting does not cancel the start others wait on.
            await asyncio.shield(starting)
        except BaseException:
            failed = starting.done() and (starting.cancelled() or starting.exception() is not None)
            if failed and starting is self._starting:  # the first to see it makes the new pool
                self._starting, self.pool = None, self._make()
            raise
        return self.pool

    async def close(self, cancel_pending: bool = False) -> None:
        """Close the pool if it was ever started (waiting for a start under way first)."""
        if self._starting is None:
            return  # never started: nothing to stop
        if not self._starting.done():
            await asyncio.gather(self._starting, return_exceptions=True)
        await self.pool.close(cancel_pending=cancel_pending)
