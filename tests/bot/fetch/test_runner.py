"""The link fetcher's worker pool (bot.fetch.runner): started on the first fetch, and started
again on the next one when that start failed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.fetch import FetchLimits, LinkFetcher
from inference.errors import JobError
from tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.links

FAIL_ONCE_ENV = "EARWORM_TEST_FAIL_ONCE_MARKER"


def fail_once() -> None:
    """Worker initializer (module-level, so workers import it): the first call in any process
    fails, later ones pass. The marker file, named by the environment, remembers across
    processes."""
    marker = Path(os.environ[FAIL_ONCE_ENV])
    if not marker.exists():
        marker.touch()
        raise RuntimeError("warm-up failed")


async def test_a_failed_start_is_tried_again_by_the_next_fetch(
    server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAIL_ONCE_ENV, str(tmp_path / "failed-once"))
    monkeypatch.setattr("bot.fetch.runner.warm_up", fail_once)
    fetcher = LinkFetcher(FetchLimits(allow_private=True, timeout_s=20), workers=1)
    try:
        with pytest.raises(JobError, match="warm-up failed"):
            await fetcher.fetch(server.url("solo_trumpet.ogg"), tmp_path / "first")
        assert (tmp_path / "failed-once").exists()
        # The next fetch starts a fresh pool and gets its audio.
        [audio] = await fetcher.fetch(server.url("solo_trumpet.ogg"), tmp_path / "second")
        assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
        assert fetcher.stats().alive == 1
    finally:
        await fetcher.close()
