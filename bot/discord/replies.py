"""What cogs and persistent buttons share when they answer: the service they call, failures
worded for users, and the bot's error handling for items discord.py only logs errors from."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.discord.app import EarwormBot, set_request_id
from inference.errors import EarwormError, JobTimeout, PoolBusy, PoolClosed, WorkerCrashed

if TYPE_CHECKING:
    from bot.service.app import EarwormService


class BadRequest(EarwormError):
    code = "bad_request"


class AnalysisFailed(EarwormError):
    code = "analysis_failed"


def services_of(client: discord.Client) -> EarwormService:
    """The bot's service, or a refusal while it has none (starting up)."""
    services = getattr(client, "services", None)
    if services is None:
        raise AnalysisFailed("I'm not ready to analyze music yet; try again in a minute.")
    return services  # type: ignore[no-any-return]


def failure_text(exc: EarwormError) -> str:
    """What to tell the user about a failed analysis (short, specific, no internals)."""
    if isinstance(exc, WorkerCrashed):
        return "The analysis failed: the worker analyzing it crashed. Please try again."
    if isinstance(exc, JobTimeout):
        return f"The analysis took too long and was stopped ({exc}). Try a shorter track."
    if isinstance(exc, PoolBusy):
        return f"I'm busy right now; try again in ~{max(1, math.ceil(exc.retry_after_s))} s."
    if isinstance(exc, PoolClosed):
        return "I'm restarting right now; try again in a minute."
    return str(exc) or "I couldn't analyze that."


async def guarded(interaction: discord.Interaction, source: str, fn: Callable[[], Awaitable[None]]) -> None:
    """Run a dynamic item's callback with the bot's error handling (discord.py only logs errors
    from dynamic items)."""
    set_request_id(interaction)
    try:
        await fn()
    except Exception as exc:
        client = interaction.client
        if isinstance(client, EarwormBot):
            await client.handle_interaction_error(interaction, exc, source=source)
        else:  # pragma: no cover - only with a foreign client
            raise
