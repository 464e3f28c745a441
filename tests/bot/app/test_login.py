"""The real bot against the fake Discord: login, command sync, /help, shutdown, reconnects, and
the real entry point (``python -m bot.discord.app``) as a subprocess."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import Settings
from bot.discord.app import apply_endpoint_overrides, build_intents
from tests.bot.app.probes import EPHEMERAL
from tests.bot.subprocesses import clean_env, run, running
from tests.fake_discord import FakeDiscord, FakeDiscordError
from tests.fake_discord.harness import FAKE_TOKEN, BotDied

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


# ---------------------------------------------------------------------------- the entry point

APP_COMMAND = [sys.executable, "-m", "bot.discord.app"]


async def test_entry_point_subprocess_logs_in_syncs_and_exits_cleanly_on_sigterm(
    fake_discord, tmp_path
):
    fake: FakeDiscord = fake_discord
    env = clean_env(
        DISCORD_TOKEN=FAKE_TOKEN,
        EARWORM_API_BASE_URL=fake.api_base,
        EARWORM_GATEWAY_URL=fake.gateway_url,
        EARWORM_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    # cwd: no stray .env; relative paths land in tmp
    async with running(APP_COMMAND, env, tmp_path) as proc:
        await fake.wait_ready(timeout=30)
        assert len(fake.sync_log) == 1 and "help" in fake.sync_log[0]["names"]
        # The bot is serving: /help from the subprocess.
        ix = await fake.slash("alice", None, "general", "help")
        response = await fake.wait_for_response(ix, timeout=10)
        assert response["message"]["embeds"][0]["title"] == "Earworm listens to music"

        proc.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert re.search(r"Synced \d+ app commands globally", log)
    assert "Received SIGTERM; shutting down" in log and "Stopped" in log
    assert "Traceback" not in log and " ERROR " not in log, log
    await fake.wait_for(lambda: fake.close_codes, 5, "the gateway connection to close")
    assert fake.close_codes in ([1000], [4000])


async def test_entry_point_reports_bad_configuration(tmp_path):
    env = clean_env(EARWORM_WORKERS="abc", EARWORM_MAX_QUEUE="0")
    code, _, text = await run(APP_COMMAND, env, tmp_path, timeout=30)
    assert code == 2
    assert "EARWORM_WORKERS: must be a whole number from 1 to 64, got 'abc'" in text
    assert "EARWORM_MAX_QUEUE" in text


async def test_a_wrong_token_fails_login_clearly(fake_discord, running_bot):
    with pytest.raises(BotDied, match="LoginFailure"):
        await running_bot(discord_token="not-the-token")
    assert [r["status"] for r in fake_discord.requests] == [401]
