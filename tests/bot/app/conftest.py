"""The bot's plumbing tests run with the help cog only (see only_the_help_cog)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def only_the_help_cog(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise login, the fake and the bot's plumbing with probe commands of their
    own; the feature cogs (tested in test_e2e_*) would clash with the probes' names."""
    import bot.discord.app

    monkeypatch.setattr(bot.discord.app, "COGS", ["bot.discord.cogs.help"])
