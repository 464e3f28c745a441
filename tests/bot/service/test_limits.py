"""Admission control (bot/limits.py): per-user concurrency, per-user rate, the global queue."""

from __future__ import annotations

import asyncio

import pytest

from bot.cli.run import engine_config
from bot.config import Settings
from bot.service.limits import JobLimiter, Refused
from inference.errors import EarwormError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kw) -> JobLimiter:
    params = dict(workers=2, max_queue=3, per_user_concurrent=2, per_user_per_minute=6)
    params.update(kw)
    return JobLimiter(clock=clock, **params)


def test_refused_is_an_earworm_error_with_a_retry_hint():
    clock = Clock()
    limiter = make(clock, per_user_concurrent=1)
    limiter.acquire(1)
    with pytest.raises(Refused) as info:
        limiter.acquire(1)
    assert isinstance(info.value, EarwormError)
    assert info.value.retry_after_s >= 1 and info.value.reason == "user_concurrent"


def test_per_user_concurrency_and_release():
    clock = Clock()
    limiter = make(clock)
    a = limiter.acquire(1)
    limiter.acquire(1)
    limiter.acquire(2)  # another user is not affected
    with pytest.raises(Refused, match=r"^You have 2 analyses running; try again in ~10 s\.$"):
        limiter.acquire(1)
    a.release()
    a.release()  # idempotent
    limiter.acquire(1)
    assert limiter.active == 3 and limiter.active_for(1) == 2
    assert limiter.refused["user_concurrent"] == 1 and limiter.admitted == 4


def test_concurrency_retry_hint_uses_recent_durations_and_elapsed_time():
    clock = Clock()
    limiter = make(clock, per_user_concurrent=1)
    for _ in range(3):  # three jobs of 4 s each
        slot = limiter.acquire(9)
        clock.now += 4
        slot.release()
    assert limiter.typical_job_s() == 4
    limiter.acquire(1)
    clock.now += 1.5
    with pytest.raises(Refused, match=r"You have 1 analysis running; try again in ~3 s\."):
        limiter.acquire(1)
    clock.now += 10  # running longer than usual: still at least 1 s
    with pytest.raises(Refused) as info:
        limiter.acquire(1)
    assert info.value.retry_after_s == 1


def test_jobs_per_minute_is_a_sliding_window():
    clock = Clock()
    limiter = make(clock, per_user_per_minute=3, per_user_concurrent=10)
    for _ in range(3):
        limiter.acquire(1).release()
        clock.now += 10
    # Starts at t=0, 10, 20; now t=30: the first leaves the window at t=60.
    with pytest.raises(Refused, match=r"started 3 analyses in the last minute; try again in ~30 s"):
        limiter.acquire(1)
    clock.now += 29.5
    with pytest.raises(Refused):
        limiter.acquire(1)
    clock.now += 0.5
    limiter.acquire(1)  # t=60: one slot free again
    with pytest.raises(Refused):
        limiter.acquire(1)


def test_global_queue_is_bounded_with_a_busy_message():
    clock = Clock()
    limiter = make(clock, workers=2, max_queue=3)
    for user in range(5):  # 2 running + 3 waiting
        limiter.acquire(user)
    assert limiter.waiting == 3
    with pytest.raises(
        Refused, match=r"^I'm busy \(3 jobs waiting\); try again in ~15 s\.$"
    ) as info:
        limiter.acquire(99)
    assert info.value.reason == "busy"


def test_busy_estimate_follows_recent_durations():
    clock = Clock()
    limiter = make(clock, workers=1, max_queue=1)
    for _ in range(2):
        slot = limiter.acquire(7)
        clock.now += 2
        slot.release()
    limiter.acquire(1)
    limiter.acquire(2)
    with pytest.raises(Refused, match=r"I'm busy \(1 job waiting\); try again in ~2 s\."):
        limiter.acquire(3)


async def test_slot_context_manager_releases_and_records_only_success():
    clock = Clock()
    limiter = make(clock)
    async with limiter.slot(1) as slot:
        assert limiter.active_for(1) == 1 and not slot.released
        clock.now += 3
    assert limiter.active == 0 and limiter.typical_job_s() == 3

    with pytest.raises(ValueError):
        async with limiter.slot(1):
            clock.now += 100
            raise ValueError("boom")
    assert limiter.active == 0 and limiter.typical_job_s() == 3  # the failure is not counted


async def test_slot_refuses_at_once_without_waiting():
    limiter = make(Clock(), per_user_concurrent=1)
    async with limiter.slot(1):
        with pytest.raises(Refused):
            async with asyncio.timeout(0.5):  # raises immediately, never blocks
                async with limiter.slot(1):
                    pass


async def test_concurrent_tasks_never_overbook():
    limiter = JobLimiter(workers=2, max_queue=2, per_user_concurrent=100, per_user_per_minute=100)
    admitted, refused = [], []

    async def job(i: int) -> None:
        try:
            async with limiter.slot(i % 3):
                admitted.append(i)
                await asyncio.sleep(0.05)
        except Refused:
            refused.append(i)

    await asyncio.gather(*(job(i) for i in range(10)))
    assert len(admitted) == 4 and len(refused) == 6
    assert limiter.active == 0


def test_from_the_settings_through_the_engine_config():
    settings = Settings(workers=3, max_queue=7, per_user_concurrent_jobs=4, per_user_jobs_per_minute=9)
    limiter = JobLimiter.from_config(engine_config(settings))
    assert (limiter.workers, limiter.max_queue) == (3, 7)
    assert (limiter.per_user_concurrent, limiter.per_user_per_minute) == (4, 9)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        JobLimiter(workers=0, max_queue=1, per_user_concurrent=1, per_user_per_minute=1)
