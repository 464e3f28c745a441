"""Coalesce identical work already under way: one task per key, and every caller awaits it.

Ten people who ❤️ the same new upload at once should cost one download and one analysis, not ten::

    analyses = InFlight[str, Analysis]()
    analysis = await analyses.run(content_hash, lambda: analyze(path))

The work runs in a task of its own, so a caller that is cancelled (a user who gave up, a
timed-out interaction) stops waiting without stopping the work the others wait for; an error
reaches every caller. A key is free again as soon as its task ends: this coalesces work in
flight, it does not cache results (the database does that).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InFlight(Generic[K, V]):
    """One running task per key."""

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    def __contains__(self, key: object) -> bool:
        """Whether work for ``key`` is running now (a call would join it)."""
        return key in self._tasks

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """``await work()``, or, while another call with ``key`` is running, its result."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            # Marked as retrieved here: when every caller has gone, nobody else reads it.
            log.debug("shared work for %r failed: %r", key, task.exception())

    async def aclose(self) -> None:
        """Cancel what is still running and wait for it to end (shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
