"""Fixtures that run the real bot against the fake Discord.

- ``fake_discord``: a started :class:`FakeDiscord` (override the ``fake_discord_options``
  fixture, or parametrize it, to change its users, guilds or deadlines).
- ``running_bot``: a factory ``await running_bot(services=None, *, ready_timeout=10,
  bot_options=None, **settings_overrides)`` that starts the real ``EarwormBot`` with
  ``bot.start("fake-token")`` against the fake and returns a :class:`RunningBot` once the bot is
  ready. On teardown the bot is closed and the test fails if the bot logged an error, its task
  died, or the fake saw unknown routes / broken Discord rules (``FakeDiscord.assert_clean``).

Every wait on the fake (``fake.wait_for_*``) aborts at once, with the cause, if the bot task
dies or the bot logs an error: a payload field discord.py needs but the fake lacks crashes
``bot.start()`` itself, and failures inside handlers otherwise only show in the log. For an
error a test provokes on purpose: ``with running.expecting_errors(): ...`` then check and clear
``running.errors``.

Import the helpers (``BotDied``, ``RunningBot``, ...) from ``tests.fake_discord.harness``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.fake_discord` must import under plain `pytest` too
    sys.path.insert(0, str(ROOT))

from tests.fake_discord import FakeDiscord, FakeDiscordError  # noqa: E402
from tests.fake_discord.harness import RunningBot, make_settings, start_bot  # noqa: E402


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    """Keyword arguments for FakeDiscord; override or parametrize to customise."""
    return {}


@pytest.fixture
async def fake_discord(fake_discord_options: dict[str, Any]) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(**fake_discord_options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def running_bot(
    fake_discord: FakeDiscord, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    started: list[RunningBot] = []

    async def start(
        services: object | None = None,
        *,
        ready_timeout: float = 10.0,
        bot_options: dict[str, Any] | None = None,
        **settings_overrides: Any,
    ) -> RunningBot:
        settings = make_settings(fake_discord, tmp_path, **settings_overrides)
        running = await start_bot(
            fake_discord, settings, services, ready_timeout=ready_timeout, bot_options=bot_options
        )
        started.append(running)
        return running

    yield start

    problems: list[str] = []
    for running in reversed(started):
        try:
            await running.stop()
        except AssertionError as exc:
            problems.append(str(exc))
        if running.collector.records:
            problems.append("the bot logged errors:\n" + running.collector.describe())
    try:
        fake_discord.assert_clean()
    except FakeDiscordError as exc:
        problems.append(str(exc))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
async def earworm_service(tmp_path: Path) -> AsyncIterator[Any]:
    """The real application service: a SQLite file in tmp_path and 2 analysis workers."""
    from bot.fetch import FetchLimits
    from bot.service.app import EarwormService
    from bot.service.engine import EngineConfig

    service = await EarwormService.open(
        tmp_path / "earworm.db",
        EngineConfig(workers=2, job_timeout_s=60, max_queue=32),
        FetchLimits(allow_private=True, timeout_s=30),
    )
    try:
        yield service
    finally:
        await service.aclose()
