"""The real bot against the fake Discord: errors from commands and views become short ephemeral
messages; the owner check."""

from __future__ import annotations

import discord
import pytest
from discord import app_commands

from bot.discord.app import UNEXPECTED_ERROR_MESSAGE, EarwormView
from inference.errors import AudioTooShort
from tests.bot.app.probes import EPHEMERAL, add_commands
from tests.fake_discord import FakeDiscord, FakeDiscordError


async def test_tree_errors_become_short_ephemeral_messages(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    running = await running_bot()

    @app_commands.command(name="refuse", description="raises a user-facing EarwormError")
    async def refuse(interaction: discord.Interaction) -> None:
        raise AudioTooShort("That clip is too short to tell: send at least 5 seconds.")

    @app_commands.command(name="boom", description="raises an unexpected error")
    async def boom(interaction: discord.Interaction) -> None:
        raise RuntimeError("kaboom")

    @app_commands.command(name="slowboom", description="defers, then fails")
    async def slowboom(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        raise RuntimeError("kaboom after defer")

    @app_commands.command(name="cool", description="has a cooldown")
    @app_commands.checks.cooldown(1, 60.0)
    async def cool(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok", ephemeral=True)

    @app_commands.command(name="admin", description="needs Manage Server")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok", ephemeral=True)

    await add_commands(running.bot, refuse, boom, slowboom, cool, admin)

    ix = await fake.slash("alice", None, "music", "refuse")
    msg = (await fake.wait_for_response(ix))["message"]
    assert msg["content"] == "That clip is too short to tell: send at least 5 seconds."
    assert msg["flags"] & EPHEMERAL
    assert running.errors == []

    ix = await fake.slash("alice", None, "music", "cool")
    await fake.wait_for_response(ix)
    ix = await fake.slash("alice", None, "music", "cool")
    msg = (await fake.wait_for_response(ix))["message"]
    assert msg["content"].startswith("Slow down") and msg["flags"] & EPHEMERAL

    ix = await fake.slash("bob", None, "music", "admin")
    msg = (await fake.wait_for_response(ix))["message"]
    assert "Manage Server" in msg["content"] and msg["flags"] & EPHEMERAL
    assert running.errors == []

    # Unexpected: a generic message to the user, the traceback and interaction id to the log.
    with running.expecting_errors():
        ix = await fake.slash("alice", None, "music", "boom")
        msg = (await fake.wait_for_response(ix))["message"]
        assert msg["content"] == UNEXPECTED_ERROR_MESSAGE and msg["flags"] & EPHEMERAL
        (record,) = running.errors
        assert str(ix.id) in record.getMessage()
        assert record.exc_info is not None and str(record.exc_info[1]) == "kaboom"
        running.errors.clear()

        # After a defer the answer is a followup, which replaces the "thinking" message.
        ix = await fake.slash("alice", None, "music", "slowboom")
        followup = await fake.wait_for_followup(ix)
        assert ix.response is not None and ix.response["type"] == 5
        assert followup is ix.original and followup["content"] == UNEXPECTED_ERROR_MESSAGE
        assert followup["flags"] == EPHEMERAL
        await fake.wait_for(lambda: running.errors, 2, "the error to be logged")
        assert "kaboom after defer" in str(running.errors[0].exc_info[1])
        running.errors.clear()


async def test_view_errors_and_owner_check(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    alice = fake.user("alice")

    class Panel(EarwormView):
        @discord.ui.button(label="Explode", custom_id="panel:explode")
        async def explode(
            self, interaction: discord.Interaction, button: discord.ui.Button
        ) -> None:
            raise ValueError("view failure")

        @discord.ui.button(label="Fine", custom_id="panel:fine")
        async def fine(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
            button.disabled = True
            await interaction.response.edit_message(content="clicked", view=self)

    @app_commands.command(name="panel", description="posts a panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("a panel", view=Panel(owner_id=interaction.user.id))

    await add_commands(running.bot, panel)
    ix = await fake.slash(alice, None, "music", "panel")
    panel_msg = (await fake.wait_for_response(ix))["message"]
    assert fake.messages_in("music") == [panel_msg]  # public

    other = await fake.click("bob", panel_msg, "panel:fine")
    msg = (await fake.wait_for_response(other))["message"]
    assert msg["content"] == "These buttons belong to someone else." and msg["flags"] & EPHEMERAL

    click = await fake.click(alice, panel_msg, "panel:fine")
    assert (await fake.wait_for_response(click))["type"] == 7
    assert panel_msg["content"] == "clicked" and panel_msg["history"][0]["content"] == "a panel"
    with pytest.raises(FakeDiscordError, match="disabled"):
        await fake.click(alice, panel_msg, "panel:fine")

    with running.expecting_errors():
        click = await fake.click(alice, panel_msg, "panel:explode")
        msg = (await fake.wait_for_response(click))["message"]
        assert msg["content"] == UNEXPECTED_ERROR_MESSAGE and msg["flags"] & EPHEMERAL
        (record,) = running.errors
        assert "view Panel" in record.getMessage() and str(click.id) in record.getMessage()
        running.errors.clear()
