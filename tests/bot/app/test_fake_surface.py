"""The fake Discord's surface, driven through the real bot: messages, attachments, reactions,
context menus, options and subcommands, modals, Discord's own rules, and failures it must make
loud (a crashed bot, a missing privileged intent)."""

from __future__ import annotations

import asyncio
import io
import time

import discord
import pytest
from discord import app_commands

from tests.bot.app.probes import EPHEMERAL, add_commands
from tests.fake_discord import FakeDiscord, FakeDiscordError
from tests.fake_discord.harness import BotDied

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

    await add_commands(bot, inspect)

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
        await interaction.edit_original_response(content="Analyzing… 50%")
        data = await file.read()
        await interaction.edit_original_response(
            content=f"{file.filename} {len(data)} {count} {mood} {who.name if who else '-'}",
            attachments=[discord.File(io.BytesIO(b"PNG"), filename="chart.png")],
        )

    party = app_commands.Group(name="party", description="listening parties")

    @party.command(name="start", description="start a party")
    async def start(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"party {name} started")

    await add_commands(running.bot, probe, party)
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
    assert [h["content"] for h in final["history"]] == ["Analyzing… 50%"]
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

    await add_commands(running.bot, slow, long)
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

    await add_commands(bot, ask)

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
