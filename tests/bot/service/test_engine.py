"""The analysis engine: real workers with the real models, crash and hang recovery, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from bot.service.engine import AnalysisEngine, EngineConfig
from inference.errors import JobError, JobTimeout, UnsupportedFormat, WorkerCrashed
from tests.audio_helpers import fixture_path
from tests.inference import pool_jobs


@pytest.fixture
async def engine():
    async with AnalysisEngine(EngineConfig(workers=2, job_timeout_s=20)) as eng:
        yield eng


async def test_analyses_in_workers_match_in_process(engine: AnalysisEngine) -> None:
    a, b = await asyncio.gather(engine.analyze(fixture_path("vibe_ace.ogg")), engine.analyze(fixture_path("hungarian_dance_5.ogg")))
    assert a.top_genre == "electronic" and b.top_genre == "classical"
    assert a.model_version == b.model_version and a.mood and b.mood


async def test_bytes_input_and_bad_input_error_comes_back_as_itself(engine: AnalysisEngine) -> None:
    r = await engine.analyze(fixture_path("solo_trumpet.ogg").read_bytes(), "trumpet")
    assert r.title == "trumpet" and r.is_music
    with pytest.raises(UnsupportedFormat):
        await engine.analyze(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "cover.mp3")


async def test_crash_fails_only_that_job_and_the_next_analysis_works(engine: AnalysisEngine) -> None:
    crash = asyncio.create_task(engine.pool.submit(pool_jobs.crash_exit))
    other = asyncio.create_task(engine.analyze(fixture_path("vibe_ace.ogg")))
    with pytest.raises(WorkerCrashed):
        await crash
    assert (await other).top_genre == "electronic"
    assert (await engine.analyze(fixture_path("solo_trumpet.ogg"))).is_music
    assert engine.pool.stats().crashes == 1


async def test_hung_job_times_out_and_the_pool_recovers(engine: AnalysisEngine) -> None:
    with pytest.raises(JobTimeout):
        await engine.pool.submit(pool_jobs.hang, timeout_s=1.0)
    assert (await engine.analyze(fixture_path("solo_trumpet.ogg"))).is_music


async def test_cancelled_analysis_frees_the_worker(engine: AnalysisEngine) -> None:
    job = asyncio.create_task(engine.pool.submit(pool_jobs.spin, 30))
    await asyncio.sleep(0.5)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert (await engine.analyze(fixture_path("solo_trumpet.ogg"))).is_music


def test_the_settings_take_their_defaults_from_the_engine() -> None:
    """One set of defaults: the engine's (bot.config takes them from here)."""
    from bot.config import Settings

    engine, settings = EngineConfig(), Settings()
    assert settings.workers == engine.workers
    assert settings.job_timeout_s == engine.job_timeout_s
    assert settings.max_queue == engine.max_queue
    assert settings.max_download_bytes == engine.max_bytes
    assert settings.max_duration_s == engine.max_duration_s
    assert settings.per_user_concurrent_jobs == engine.per_user_concurrent
    assert settings.per_user_jobs_per_minute == engine.per_user_per_minute


async def test_the_workers_start_on_the_first_analysis(tmp_path) -> None:
    """Commands that never analyze (forget, recommend, party) never start the workers."""
    from bot.service.app import EarwormService

    service = await EarwormService.open(tmp_path / "e.db", EngineConfig(workers=1), start_workers=False)
    try:
        await service.forget(1)
        await service.recommend(1, 1)
        await service.party_playlist(1, [1, 2])
        assert not service.engine.started and service.engine.pool.stats().alive == 0
        path = fixture_path("solo_trumpet.ogg")
        stored = await service.add_track(1, path, title="t", source_kind="file", source_url=str(path), added_by=None)
        assert stored.created and service.engine.started and service.engine.pool.stats().alive == 1
    finally:
        await service.aclose()


async def test_a_failed_start_is_tried_again_by_the_next_call(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whose initializer failed (models missing, say) does not leave the engine broken:
    the next call starts a fresh pool (inference.lazy_pool, which the link fetcher shares)."""
    from tests.bot.fetch.test_runner import FAIL_ONCE_ENV, fail_once

    monkeypatch.setenv(FAIL_ONCE_ENV, str(tmp_path / "failed-once"))
    monkeypatch.setattr("bot.service.engine._init_worker", fail_once)
    engine = AnalysisEngine(EngineConfig(workers=1, job_timeout_s=20))
    try:
        with pytest.raises(JobError, match="warm-up failed"):
            await engine.start()
        assert not engine.started
        await engine.start()
        assert engine.started and engine.pool.stats().alive == 1
    finally:
        await engine.close(cancel_pending=True)
