"""The real bot against the fake Discord: login, command sync, /help, errors, shutdown, and the
real entry point (``python -m bot.discord.app``) as a subprocess."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import discord
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import Settings
from bot.discord.app import (
    UNEXPECTED_ERROR_MESSAGE,
    EarwormView,
    apply_endpoint_overrides,
    build_intents,
)
from inference.errors import AudioTooShort
from tests.fake_discord import FakeDiscord, FakeDiscordError
from tests.fake_discord.harness import FAKE_TOKEN, BotDied


@pytest.fixture(autouse=True)
def only_the_help_cog(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise login, the fake and the bot's plumbing with probe commands of their
    own; the feature cogs (tested in test_e2e_*) would clash with the probes' names."""
    import bot.discord.app

    monkeypatch.setattr(bot.discord.app, "COGS", ["bot.discord.cogs.help"])

ROOT = Path(__file__).resolve().parents[2]
EPHEMERAL = 64


# ---------------------------------------------------------------------------- login and sync


async def test_login_identifies_with_the_right_intents_and_syncs_globally(
    fake_discord, running_bot
):
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    bot = running.bot

    seen = [(r["method"], r["path"]) for r in fake.requests]
    app = fake.app_id
    assert seen[:3] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
        ("PUT", f"/applications/{app}/commands"),
    ]
    assert [s["scope"] for s in fake.sync_log] == [None]
    assert "help" in [c["name"] for c in fake.commands()]
    assert bot.app_command_ids["help"] == int(fake.commands()[0]["id"])

    identify = fake.identify
    assert identify is not None and identify["token"] == FAKE_TOKEN
    intents = discord.Intents._from_value(identify["intents"])
    assert intents == build_intents()
    assert (
        intents.guilds
        and intents.guild_messages
        and intents.guild_reactions
        and intents.message_content
    )
    assert not intents.members and not intents.presences

    assert bot.user is not None and bot.user.id == fake.app_id
    guild = bot.get_guild(fake.guild().id)
    assert guild is not None and {c.name for c in guild.text_channels} == {"general", "music"}
    assert bot.allowed_mentions is not None and bot.allowed_mentions.to_dict() == {"parse": []}


async def test_dev_guild_gets_guild_scoped_commands_only(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(dev_guild_id=guild.id)

    assert [s["scope"] for s in fake.sync_log] == [guild.id]
    assert fake.commands() == []
    (help_cmd,) = [c for c in fake.commands(guild) if c["name"] == "help"]
    assert help_cmd["guild_id"] == str(guild.id)

    ix = await fake.slash("alice", guild, "music", "help")
    assert ix.payload["data"]["guild_id"] == str(guild.id)
    response = await fake.wait_for_response(ix)
    assert response["type"] == 4 and response["message"]["flags"] & EPHEMERAL


async def test_help_answers_with_an_ephemeral_embed(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    await running_bot()

    ix = await fake.slash("alice", None, "general", "help")
    response = await fake.wait_for_response(ix)
    assert response["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE, no defer needed
    assert response["at"] < 3.0
    msg = response["message"]
    assert msg is ix.original
    assert msg["flags"] & EPHEMERAL and msg["ephemeral"]
    assert msg["allowed_mentions"] == {"parse": []}
    (embed,) = msg["embeds"]
    assert embed["title"] == "Earworm listens to music"
    text = " ".join(f["name"] + " " + f["value"] for f in embed["fields"])
    for command in (
        "/classify",
        "/recommend",
        "/likes",
        "/party start",
        "/party playlist",
        "/party end",
    ):
        assert command in text
    for command in ("/forget", "/catalog add", "/catalog stats", "❤️"):
        assert command in text
    assert "25 MiB" in embed["footer"]["text"]
    # Ephemeral: nobody else in the channel sees it.
    assert fake.messages_in("general") == []


async def test_help_works_in_a_dm(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    await running_bot()
    ix = await fake.slash("bob", None, None, "help")
    assert "user" in ix.payload and "guild_id" not in ix.payload
    response = await fake.wait_for_response(ix)
    assert response["message"]["embeds"][0]["title"] == "Earworm listens to music"


async def test_an_unknown_route_is_surfaced(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    route = Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=fake.guild().id)
    with pytest.raises(discord.NotFound) as info:
        await running.bot.http.request(route)
    assert info.value.text == "Unknown"
    assert fake.unknown_routes == [f"GET /guilds/{fake.guild().id}/audit-logs"]
    with pytest.raises(FakeDiscordError, match="unknown route"):
        fake.assert_clean()
    fake.unknown_routes.clear()


async def test_clean_shutdown_closes_services(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord

    class Services:
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    services = Services()
    running = await running_bot(services)
    assert running.bot.services is services

    await running.stop()
    assert running.task.done() and running.task.exception() is None
    assert running.bot.is_closed()
    assert services.closed == 1
    await fake.wait_for(lambda: fake.close_codes, 5, "the gateway connection to close")
    # discord.py 2.7 sends 4000, not 1000: Client.close() wakes the pending receive(), whose
    # poll_event() closes the socket with 4000 before close(code=1000) gets to send its frame.
    assert fake.close_codes in ([1000], [4000])
    assert running.errors == []


async def test_the_bot_resumes_after_a_reconnect_request(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    await running_bot()
    await fake.force_reconnect()
    assert fake.resumes == 1
    ix = await fake.slash("carol", None, "music", "help")
    await fake.wait_for_response(ix)


def test_endpoint_overrides_apply_and_restore():
    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    settings = Settings(
        api_base_url="http://127.0.0.1:1/api/v10", gateway_url="ws://127.0.0.1:1/gw"
    )
    restore = apply_endpoint_overrides(settings)
    try:
        assert Route.BASE == "http://127.0.0.1:1/api/v10"
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gw"
        assert Route("GET", "/users/@me").url == "http://127.0.0.1:1/api/v10/users/@me"
    finally:
        restore()
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == before
    # Nothing set: nothing changes.
    apply_endpoint_overrides(Settings())()
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == before


# ---------------------------------------------------------------------------- error handling


async def _add_commands(
    bot: discord.Client, *commands: app_commands.Command | app_commands.ContextMenu
) -> None:
    for command in commands:
        bot.tree.add_command(command)
    await bot.tree.sync()


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

    await _add_commands(running.bot, refuse, boom, slowboom, cool, admin)

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

    await _add_commands(running.bot, panel)
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


# ---------------------------------------------------------------------------- the fake's surface


async def test_messages_attachments_reactions_and_context_menus(fake_discord, running_bot):
    """What the lead's end-to-end tests rely on: user messages with attachments that the bot
    can fetch and download, ❤️ reactions, message commands, followups with files."""
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    bot = running.bot
    audio = b"OggS" + bytes(range(256)) * 8

    reactions: list[tuple[int, str, str]] = []

    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        reactions.append((payload.user_id, str(payload.emoji), payload.event_type))

    bot.add_listener(on_raw_reaction_add)

    @app_commands.context_menu(name="Inspect")
    async def inspect(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await message.attachments[0].read()
        await message.add_reaction("🎵")
        await interaction.followup.send(
            f"{message.author.name}: {len(data)} bytes",
            file=discord.File(io.BytesIO(data[::-1]), filename="reversed.bin"),
            embed=discord.Embed(title="chart").set_image(url="attachment://reversed.bin"),
        )
        await interaction.followup.send("second, public", ephemeral=False)

    await _add_commands(bot, inspect)

    posted = await fake.post_user_message(
        "alice", "music", "listen to this", attachments=[("song.ogg", audio)]
    )
    channel = bot.get_channel(int(posted["channel_id"]))
    assert isinstance(channel, discord.TextChannel)
    fetched = await channel.fetch_message(int(posted["id"]))
    assert fetched.content == "listen to this" and fetched.author.id == fake.user("alice").id
    assert fetched.attachments[0].filename == "song.ogg"
    assert await fetched.attachments[0].read() == audio

    await fake.react("bob", posted, "❤️")
    await fake.wait_for(lambda: reactions, 5, "the reaction event")
    assert reactions == [(fake.user("bob").id, "❤️", "REACTION_ADD")]

    ix = await fake.message_command("carol", None, None, "Inspect", posted)
    first = await fake.wait_for_followup(ix)
    assert first is ix.original and first["flags"] == EPHEMERAL  # the defer decided
    assert first["content"] == f"alice: {len(audio)} bytes"
    (att,) = first["attachments"]
    assert att["filename"] == "reversed.bin" and att["data"] == audio[::-1]
    assert first["embeds"][0]["image"]["url"] == att["url"]
    second = await fake.wait_for_followup(ix, n=2)
    assert second["content"] == "second, public" and not second["flags"] & EPHEMERAL
    await fake.wait_for_reaction(posted, "🎵")
    assert fake.reactions_on(posted) == {"❤️": [fake.user("bob").id], "🎵": [fake.app_id]}
    assert [m["id"] for m in fake.messages_in("music")] == [posted["id"], second["id"]]


async def test_slash_options_subcommands_and_progress_edits(fake_discord, running_bot):
    """Options typed from the synced schema (attachment, integer, choices, member), subcommand
    groups, and the defer -> edit progress -> final edit pattern."""
    fake: FakeDiscord = fake_discord
    running = await running_bot()

    @app_commands.command(name="probe", description="echoes its options")
    @app_commands.describe(file="an audio file", count="how many", mood="a mood", who="someone")
    @app_commands.choices(mood=[app_commands.Choice(name="Happy", value="happy")])
    async def probe(
        interaction: discord.Interaction,
        file: discord.Attachment,
        count: app_commands.Range[int, 1, 5],
        mood: str = "none",
        who: discord.Member | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="Analysing… 50%")
        data = await file.read()
        await interaction.edit_original_response(
            content=f"{file.filename} {len(data)} {count} {mood} {who.name if who else '-'}",
            attachments=[discord.File(io.BytesIO(b"PNG"), filename="chart.png")],
        )

    party = app_commands.Group(name="party", description="listening parties")

    @party.command(name="start", description="start a party")
    async def start(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"party {name} started")

    await _add_commands(running.bot, probe, party)
    att = fake.register_attachment("track.ogg", b"x" * 1000, "audio/ogg")
    ix = await fake.slash(
        "alice",
        None,
        "music",
        "probe",
        options={"file": att, "count": 3, "mood": "happy", "who": "bob"},
    )
    final = await fake.wait_for_original(ix, lambda m: "track.ogg" in m["content"])
    assert final["content"] == "track.ogg 1000 3 happy bob"
    assert [h["content"] for h in final["history"]] == ["Analysing… 50%"]
    assert (
        final["attachments"][0]["filename"] == "chart.png"
        and final["attachments"][0]["data"] == b"PNG"
    )
    assert not final["flags"] & EPHEMERAL and fake.messages_in("music") == [final]

    with pytest.raises(FakeDiscordError, match="not a choice"):
        await fake.slash(
            "alice", None, "music", "probe", options={"file": att, "count": 1, "mood": "sad"}
        )
    with pytest.raises(FakeDiscordError, match="required options missing"):
        await fake.slash("alice", None, "music", "probe", options={"count": 1})
    with pytest.raises(FakeDiscordError, match="not synced"):
        await fake.slash("alice", None, "music", "classify-nope")

    ix = await fake.slash("carol", None, "general", "party start", options={"name": "friday"})
    assert ix.payload["data"]["options"] == [
        {"type": 1, "name": "start", "options": [{"name": "name", "type": 3, "value": "friday"}]}
    ]
    assert (await fake.wait_for_response(ix))["message"]["content"] == "party friday started"


async def test_discord_rules_are_enforced(fake_discord, running_bot):
    """A slow first response and an over-long message are refused as Discord would, and the
    test hears about it."""
    fake: FakeDiscord = fake_discord
    fake.response_deadline_s = 0.2
    running = await running_bot()

    @app_commands.command(name="slow", description="answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        await interaction.response.send_message("late")

    @app_commands.command(name="long", description="says too much")
    async def long(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("x" * 2001)

    await _add_commands(running.bot, slow, long)
    with running.expecting_errors():
        ix = await fake.slash("alice", None, "music", "slow")
        await fake.wait_for(lambda: running.errors, 5, "the failure to be logged")
        assert isinstance(running.errors[0].exc_info[1], discord.NotFound)
        # ... and the error handler's own (late) reply is refused too.
        await fake.wait_for(lambda: len(fake.problems) == 2, 5, "the error reply")
        assert all("first response after" in p for p in fake.problems)
        assert ix.response is None
        running.errors.clear()
        fake.problems.clear()

        ix = await fake.slash("alice", None, "music", "long")
        await fake.wait_for(lambda: running.errors, 5, "the failure to be logged")
        assert fake.problems == [
            f"interaction {ix.id} response: content is 2001 characters (max 2000)"
        ]
        running.errors.clear()
        fake.problems.clear()


async def test_channel_messages_modals_and_unreact(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    bot = running.bot
    removed: list[tuple[int, str]] = []
    seen_own: list[int] = []

    async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
        removed.append((payload.user_id, str(payload.emoji)))

    async def on_message(message: discord.Message) -> None:
        if message.author.id == fake.app_id:
            seen_own.append(message.id)

    bot.add_listener(on_raw_reaction_remove)
    bot.add_listener(on_message)

    class Name(discord.ui.Modal, title="Name your party"):
        name = discord.ui.TextInput(label="Name", custom_id="party:name")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"named {self.name.value}", ephemeral=True)

    @app_commands.command(name="ask", description="shows a modal")
    async def ask(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Name())

    await _add_commands(bot, ask)

    # The bot posts in a channel (multipart with a file), edits, and the gateway echoes it back.
    channel = bot.get_channel(fake.channel("music").id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send(
        "a chart", file=discord.File(io.BytesIO(b"\x89PNG"), filename="chart.png")
    )
    record = await fake.wait_for_message("music", lambda m: m["content"] == "a chart")
    assert record["attachments"][0]["data"] == b"\x89PNG" and record["allowed_mentions"] == {
        "parse": []
    }
    await fake.wait_for(lambda: seen_own, 5, "the bot to see its own message")
    await sent.edit(content="a better chart")
    assert record["content"] == "a better chart" and record["history"][0]["content"] == "a chart"

    await fake.react("alice", record, "❤")
    await fake.unreact("alice", record, "❤")
    await fake.wait_for(lambda: removed, 5, "the reaction removal")
    assert removed == [(fake.user("alice").id, "❤")]

    await sent.delete()
    assert record["deleted"] and fake.messages_in("music") == []

    ix = await fake.slash("bob", None, "music", "ask")
    await fake.wait_for_response(ix)
    assert ix.modal is not None and ix.modal["title"] == "Name your party"
    submitted = await fake.submit_modal("bob", ix, {"party:name": "Friday"})
    reply = (await fake.wait_for_response(submitted))["message"]
    assert reply["content"] == "named Friday" and reply["flags"] & EPHEMERAL


async def test_a_payload_that_crashes_the_bot_fails_the_wait_fast(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    running = await running_bot()
    posted = await fake.post_user_message("alice", "general", "hi")
    running.expect_crash = True
    # MESSAGE_REACTION_ADD without "type" (what older fakes send) crashes bot.start() itself.
    await fake.dispatch_raw(
        "MESSAGE_REACTION_ADD",
        {
            "user_id": str(fake.user("bob").id),
            "channel_id": posted["channel_id"],
            "message_id": posted["id"],
            "guild_id": str(fake.guild().id),
            "emoji": {"id": None, "name": "❤️"},
        },
    )
    running.expect_crash = False
    started = time.monotonic()
    with pytest.raises(BotDied, match="KeyError"):
        await fake.wait_for(lambda: False, timeout=10, what="something that never comes")
    assert time.monotonic() - started < 8  # failed fast, not after the 10 s timeout
    running.expect_crash = True


@pytest.mark.parametrize("fake_discord_options", [{"privileged_intents": ()}])
async def test_without_the_message_content_intent_enabled_login_fails_clearly(
    fake_discord, running_bot
):
    fake: FakeDiscord = fake_discord
    with pytest.raises(BotDied, match="PrivilegedIntentsRequired"):
        await running_bot()
    assert fake.close_codes == [4014]
    assert fake.problems == [
        "IDENTIFY asked for the privileged intent 'message_content', which is not enabled"
    ]
    fake.problems.clear()


# ---------------------------------------------------------------------------- the entry point


async def test_entry_point_subprocess_logs_in_syncs_and_exits_cleanly_on_sigterm(
    fake_discord, tmp_path
):
    fake: FakeDiscord = fake_discord
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EARWORM_") and k != "DISCORD_TOKEN"
    }
    env |= {
        "DISCORD_TOKEN": FAKE_TOKEN,
        "EARWORM_API_BASE_URL": fake.api_base,
        "EARWORM_GATEWAY_URL": fake.gateway_url,
        "EARWORM_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.discord.app",
        cwd=tmp_path,  # no stray .env; relative paths land in tmp
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_ready(timeout=30)
        assert len(fake.sync_log) == 1 and "help" in fake.sync_log[0]["names"]
        # The bot is serving: /help from the subprocess.
        ix = await fake.slash("alice", None, "general", "help")
        response = await fake.wait_for_response(ix, timeout=10)
        assert response["message"]["embeds"][0]["title"] == "Earworm listens to music"

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert re.search(r"Synced \d+ app commands globally", log)
    assert "Received SIGTERM; shutting down" in log and "Stopped" in log
    assert "Traceback" not in log and " ERROR " not in log, log
    await fake.wait_for(lambda: fake.close_codes, 5, "the gateway connection to close")
    assert fake.close_codes in ([1000], [4000])


async def test_entry_point_reports_bad_configuration(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EARWORM_") and k != "DISCORD_TOKEN"
    }
    env |= {"EARWORM_WORKERS": "abc", "EARWORM_MAX_QUEUE": "0", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.discord.app",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    text = stderr.decode()
    assert "EARWORM_WORKERS: must be a whole number from 1 to 64, got 'abc'" in text
    assert "EARWORM_MAX_QUEUE" in text


async def test_a_wrong_token_fails_login_clearly(fake_discord, running_bot):
    with pytest.raises(BotDied, match="LoginFailure"):
        await running_bot(discord_token="not-the-token")
    assert [r["status"] for r in fake_discord.requests] == [401]
