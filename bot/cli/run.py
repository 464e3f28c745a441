"""``earworm run``: the Discord bot, from the environment (and ``.env``).

- ``earworm run``: validate the settings (exit 2 with one line per bad value), open the service
  (SQLite database, analysis workers, link fetching within the configured limits) inside the
  bot's event loop, and run the bot until SIGTERM / SIGINT; shutdown finishes or cancels the
  running analyses, closes the database and exits 0.
- ``earworm run --check``: validate and print the settings (token masked); exit 0 or 2.
- ``earworm run --health``: for a container health check: exit 0 if the running bot's heartbeat
  file (``<database>.heartbeat``, touched every 30 s while connected to Discord) is fresher than
  90 s, else 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings

if TYPE_CHECKING:
    from bot.service.app import EarwormService
    from bot.service.engine import EngineConfig

#: A heartbeat older than this means the bot is not connected (3 missed beats).
HEALTH_MAX_AGE_S = 90.0


def engine_config(settings: Settings) -> EngineConfig:
    """The engine and admission limits the configured bot runs with."""
    from bot.service.engine import EngineConfig

    return EngineConfig(
        workers=settings.workers,
        job_timeout_s=settings.job_timeout_s,
        max_queue=settings.max_queue,
        max_bytes=max(settings.max_attachment_bytes, settings.max_download_bytes),
        max_duration_s=settings.max_duration_s,
        per_user_concurrent=settings.per_user_concurrent_jobs,
        per_user_per_minute=settings.per_user_jobs_per_minute,
    )


async def make_services(settings: Settings) -> EarwormService:
    """The application service for the bot, configured from ``settings``; its workers start
    now, so the first request does not wait for the models to load."""
    from bot.fetch import FetchLimits
    from bot.service.app import EarwormService

    return await EarwormService.open(
        settings.database_path,
        engine_config(settings),
        FetchLimits(
            max_bytes=settings.max_download_bytes,
            max_duration_s=settings.max_duration_s,
            timeout_s=settings.download_timeout_s,
            max_playlist_items=settings.max_playlist_items,
            allow_private=settings.allow_private_links,
        ),
        verify_db=True,  # a long-running bot refuses a damaged database at start, not mid-request
    )


def check_health(settings: Settings, now: float | None = None) -> tuple[bool, str]:
    """(healthy, why): is the heartbeat file fresher than :data:`HEALTH_MAX_AGE_S`?"""
    path = settings.heartbeat_path
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no heartbeat at {path}: the bot is not running or not connected"
    except OSError as exc:
        return False, f"cannot read the heartbeat {path}: {exc}"
    age = (time.time() if now is None else now) - mtime
    if age > HEALTH_MAX_AGE_S:
        return False, f"stale heartbeat: last beat {age:.0f} s ago ({path})"
    return True, f"ok: last beat {max(0.0, age):.0f} s ago"


def run_discord(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"earworm: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "health", False):
        healthy, why = check_health(settings)
        print(why, file=sys.stdout if healthy else sys.stderr)
        return 0 if healthy else 1
    if getattr(args, "check", False):
        print(settings.describe())
        try:
            settings.require_token()
        except ConfigError as exc:
            print(f"earworm: {exc}", file=sys.stderr)
            return 2
        return 0

    from bot.discord.app import main_run

    # `earworm` set up plain logging for the other commands; the bot logs its own way (with
    # request ids), so drop those handlers rather than print every line twice.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and not getattr(handler, "_earworm", False):
            root.removeHandler(handler)
    return main_run(settings, make_services)
