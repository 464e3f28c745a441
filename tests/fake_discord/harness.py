"""Run the real :class:`~bot.discord.app.EarwormBot` against a :class:`FakeDiscord`.

Used by ``tests/bot/conftest.py`` (the ``running_bot`` fixture); import the exceptions from here,
not from the conftest (pytest imports a conftest under a different module name).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.discord.app import EarwormBot, apply_endpoint_overrides

from .server import FakeDiscord, FakeDiscordError

FAKE_TOKEN = "fake-token"


class BotDied(AssertionError):
    """The bot task ended while the test was still using it."""


class BotLoggedError(AssertionError):
    """The bot logged an unexpected error (tree.on_error / on_error / View.on_error / asyncio)."""


class ErrorCollector(logging.Handler):
    """Collects ERROR-and-above log records (with their tracebacks) from every logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> str:
        out = []
        for r in self.records:
            text = f"[{r.name}] {r.getMessage()}"
            if r.exc_info and r.exc_info[1] is not None:
                text += "\n" + logging.Formatter().formatException(r.exc_info)
            out.append(text)
        return "\n".join(out)


@dataclass
class RunningBot:
    """A bot started against the fake. ``errors``: what it logged at ERROR (should stay empty)."""

    bot: EarwormBot
    fake: FakeDiscord
    settings: Settings
    task: asyncio.Task[None]
    collector: ErrorCollector
    restore: Callable[[], None]
    #: Set to True when a test makes the bot crash on purpose.
    expect_crash: bool = False
    stopped: bool = False

    @property
    def errors(self) -> list[logging.LogRecord]:
        """Unexpected errors the bot logged; clear it after checking an expected one."""
        return self.collector.records

    def check(self) -> None:
        """Raise if the bot died or logged an error (a watchdog run by every fake wait)."""
        if self.task.done() and not self.stopped and not self.expect_crash:
            exc = None if self.task.cancelled() else self.task.exception()
            raise BotDied(f"the bot task ended early: {exc!r}") from exc
        if self.collector.records:
            raise BotLoggedError("the bot logged errors:\n" + self.collector.describe())

    def expecting_errors(self) -> _ExpectingErrors:
        """``with running.expecting_errors(): ...``: waits don't abort on logged errors (check
        ``running.errors`` yourself, then clear it)."""
        return _ExpectingErrors(self)

    async def stop(self) -> None:
        """Close the bot (as the entry point does) and restore discord.py's endpoints."""
        if self.stopped:
            return
        self.stopped = True
        try:
            await asyncio.wait_for(self.bot.close(), 10)
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 10)
            except Exception as exc:
                if not self.expect_crash:
                    raise BotDied(f"bot.start() raised: {exc!r}") from exc
        finally:
            self.restore()
            logging.getLogger().removeHandler(self.collector)
            if self.check in self.fake.watchdogs:
                self.fake.watchdogs.remove(self.check)


class _ExpectingErrors:
    def __init__(self, running: RunningBot) -> None:
        self.running = running

    def __enter__(self) -> RunningBot:
        if self.running.check in self.running.fake.watchdogs:
            self.running.fake.watchdogs.remove(self.running.check)
        return self.running

    def __exit__(self, *exc: object) -> None:
        if not self.running.stopped:
            self.running.fake.add_watchdog(self.running.check)


def make_settings(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a bot under test: endpoints on the fake, a database in ``tmp_path``."""
    base: dict[str, Any] = dict(
        discord_token=FAKE_TOKEN,
        database_path=tmp_path / "earworm.db",
        workers=1,
        allow_private_links=True,
        api_base_url=fake.api_base,
        gateway_url=fake.gateway_url,
    )
    return Settings(**{**base, **overrides})


async def start_bot(
    fake: FakeDiscord,
    settings: Settings,
    services: object | None = None,
    *,
    ready_timeout: float = 10.0,
    bot_options: dict[str, Any] | None = None,
) -> RunningBot:
    """Start ``EarwormBot(settings, services)`` with the real ``bot.start()`` and wait until it
    is ready; raises :class:`BotDied` (with the cause) if ``bot.start()`` ends first."""
    collector = ErrorCollector()
    logging.getLogger().addHandler(collector)
    restore = apply_endpoint_overrides(settings)
    options = {"guild_ready_timeout": 0.05} | (bot_options or {})
    bot = EarwormBot(settings, services, **options)
    task = asyncio.create_task(bot.start(settings.require_token()), name="earworm-bot")
    running = RunningBot(bot, fake, settings, task, collector, restore)
    fake.add_watchdog(running.check)

    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait(
        {task, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        ready.cancel()
        running.expect_crash = True  # reported here; stop() must not report it again
        await running.stop()
        logged = f"\nthe bot logged:\n{collector.describe()}" if collector.records else ""
        if task.done():
            exc = None if task.cancelled() else task.exception()
            raise BotDied(
                f"bot.start() ended before ready: {exc!r}{logged}\n{fake.summary()}"
            ) from exc
        raise FakeDiscordError(
            f"the bot was not ready after {ready_timeout} s{logged}\n{fake.summary()}"
        )
    running.check()
    return running
