"""Admission control for analysis jobs: who may start one now, and when to come back if not.

Three limits, from :class:`~bot.service.engine.EngineConfig`:

- ``per_user_concurrent``: analyses one user may have running (or waiting) at once;
- ``per_user_per_minute``: analyses one user may start in any 60-second window (sliding);
- ``max_queue``: jobs allowed to wait for a worker, all users together. With ``workers`` jobs
  running and ``max_queue`` waiting, the next one is refused ("busy, try again") instead of
  queueing without bound.

A refusal is a :class:`Refused` (an ``EarwormError``, so front ends show its message as is) with
``retry_after_s`` estimated from the durations of recent jobs::

    limiter = JobLimiter.from_config(engine_config)   # the service has one
    async with limiter.slot(user_id):                 # raises Refused at once, never waits
        ... download, analyze ...

Admission is synchronous and pure bookkeeping (no awaits, no locks, no threads): a check and a
reservation happen in one step on the event loop, so two tasks can never both take the last
place. Jobs admitted here still queue inside the worker pool (whose own ``max_queue`` stays a
backstop for work that does not come through here).
"""

from __future__ import annotations

import collections
import logging
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inference.errors import EarwormError

if TYPE_CHECKING:
    from bot.service.engine import EngineConfig

log = logging.getLogger(__name__)

__all__ = ["JobLimiter", "Refused", "Slot"]

#: Assumed length of one job (download + analysis) before any has finished.
DEFAULT_JOB_S = 10.0
#: Recent job durations kept for the estimates.
HISTORY = 50


class Refused(EarwormError):
    """Not admitted now; try again in about ``retry_after_s`` seconds."""

    code = "refused"

    def __init__(self, message: str, retry_after_s: float, reason: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        #: ``"user_concurrent"``, ``"user_rate"`` or ``"busy"``.
        self.reason = reason


@dataclass(eq=False)
class Slot:
    """One admitted job; :meth:`release` it exactly once (``slot()`` does that for you)."""

    limiter: JobLimiter
    user_id: int
    started: float
    released: bool = field(default=False)

    def release(self, *, record: bool = True) -> None:
        """Free the place. ``record``: count its duration in the estimates (skip it for jobs
        that ended early, e.g. refused input, which would make the estimates too short)."""
        if self.released:
            return
        self.released = True
        self.limiter._release(self, record=record)


class JobLimiter:
    """Per-user and global admission control (see the module docstring).

    ``clock`` is injectable for tests (seconds, monotonic).
    """

    def __init__(
        self,
        *,
        workers: int,
        max_queue: int,
        per_user_concurrent: int,
        per_user_per_minute: int,
        window_s: float = 60.0,
        default_job_s: float = DEFAULT_JOB_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1 or max_queue < 0 or per_user_concurrent < 1 or per_user_per_minute < 1:
            raise ValueError(
                "need workers >= 1, max_queue >= 0, per_user_concurrent >= 1 and "
                "per_user_per_minute >= 1"
            )
        self.workers = workers
        self.max_queue = max_queue
        self.per_user_concurrent = per_user_concurrent
        self.per_user_per_minute = per_user_per_minute
        self.window_s = window_s
        self.default_job_s = default_job_s
        self._clock = clock
        self._active: dict[int, list[Slot]] = {}
        self._starts: dict[int, collections.deque[float]] = {}
        self._durations: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self.admitted = 0
        self.refused = collections.Counter[str]()

    @classmethod
    def from_config(cls, config: EngineConfig, **kwargs: Any) -> JobLimiter:
        return cls(
            workers=config.workers,
            max_queue=config.max_queue,
            per_user_concurrent=config.per_user_concurrent,
            per_user_per_minute=config.per_user_per_minute,
            **kwargs,
        )

    # ------------------------------------------------------------------ state

    @property
    def active(self) -> int:
        """Admitted jobs not yet released (running or waiting for a worker)."""
        return sum(len(slots) for slots in self._active.values())

    @property
    def waiting(self) -> int:
        """Admitted jobs beyond the number of workers: the global queue's length."""
        return max(0, self.active - self.workers)

    def active_for(self, user_id: int) -> int:
        return len(self._active.get(user_id, ()))

    def typical_job_s(self) -> float:
        """The median duration of recent jobs (``default_job_s`` before any finished)."""
        return statistics.median(self._durations) if self._durations else self.default_job_s

    # ------------------------------------------------------------------ admission

    def check(self, user_id: int) -> None:
        """Raise :class:`Refused` if ``user_id`` may not start a job now (reserves nothing)."""
        now = self._clock()
        typical = self.typical_job_s()

        mine = self._active.get(user_id, [])
        if len(mine) >= self.per_user_concurrent:
            oldest = min(s.started for s in mine)
            retry = _whole_seconds(typical - (now - oldest))
            n = len(mine)
            raise Refused(
                f"You have {n} {'analysis' if n == 1 else 'analyses'} running; "
                f"try again in ~{retry} s.",
                retry,
                "user_concurrent",
            )

        starts = self._recent_starts(user_id, now)
        if len(starts) >= self.per_user_per_minute:
            retry = _whole_seconds(starts[0] + self.window_s - now)
            n = len(starts)
            raise Refused(
                f"You've started {n} {'analysis' if n == 1 else 'analyses'} in the last minute; "
                f"try again in ~{retry} s.",
                retry,
                "user_rate",
            )

        waiting = self.waiting
        if self.active >= self.workers + self.max_queue:
            # The queue drains at about `workers` jobs per typical job length.
            retry = _whole_seconds(typical * max(1, waiting) / self.workers)
            raise Refused(
                f"I'm busy ({waiting} {'job' if waiting == 1 else 'jobs'} waiting); "
                f"try again in ~{retry} s.",
                retry,
                "busy",
            )

    def acquire(self, user_id: int) -> Slot:
        """Admit a job for ``user_id`` or raise :class:`Refused`; release the slot when done."""
        try:
            self.check(user_id)
        except Refused as exc:
            self.refused[exc.reason] += 1
            log.info("refused a job for user %s: %s", user_id, exc)
            raise
        now = self._clock()
        slot = Slot(self, user_id, now)
        self._active.setdefault(user_id, []).append(slot)
        self._starts.setdefault(user_id, collections.deque()).append(now)
        self.admitted += 1
        return slot

    @asynccontextmanager
    async def slot(self, user_id: int) -> AsyncIterator[Slot]:
        """``async with limiter.slot(user_id):`` admit (or raise :class:`Refused` at once) and
        release on exit; the duration counts in the estimates unless the body raised."""
        slot = self.acquire(user_id)
        try:
            yield slot
        except BaseException:
            slot.release(record=False)
            raise
        else:
            slot.release(record=True)

    # ------------------------------------------------------------------ internals

    def _release(self, slot: Slot, *, record: bool) -> None:
        mine = self._active.get(slot.user_id)
        if mine is not None and slot in mine:
            mine.remove(slot)
            if not mine:
                del self._active[slot.user_id]
        if record:
            self._durations.append(max(0.0, self._clock() - slot.started))

    def _recent_starts(self, user_id: int, now: float) -> collections.deque[float]:
        starts = self._starts.get(user_id)
        if starts is None:
            return collections.deque()
        while starts and starts[0] <= now - self.window_s:
            starts.popleft()
        if not starts:
            del self._starts[user_id]
        return starts


def _whole_seconds(seconds: float) -> int:
    """A retry hint in whole seconds, at least 1."""
    if not math.isfinite(seconds):
        return 1
    return max(1, math.ceil(seconds))

