"""❤️ likes end to end: the Like button, reactions on results and on users' messages, ``/likes``
with paging and remove buttons, and a restart that keeps every like (real bot, fake Discord,
real SQLite file, real analysis workers)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.cli.run import make_services
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.seed import seed_catalog
from tests.httpserver import serve_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOADING = 128
HEART = "\u2764\ufe0f"
BARE_HEART = "\u2764"


def likes_view() -> type:
    """The LikesView class the running bot uses (``load_extension`` executes the cog module
    afresh, so patch the loaded module's class, not one imported by the test)."""
    return sys.modules["bot.discord.cogs.likes"].LikesView


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """label -> button, over every action row."""
    return {c["label"]: c for row in message["components"] for c in row["components"]}


async def eventually(
    fake: FakeDiscord, check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30
) -> Any:
    """Poll an async condition (a database read), aborting if the bot dies or logs an error."""
    deadline = time.monotonic() + timeout
    while True:
        for watchdog in fake.watchdogs:
            watchdog()
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{fake.summary()}")
        await asyncio.sleep(0.05)


async def classify(fake: FakeDiscord, user: str, name: str) -> dict[str, Any]:
    att = fake.register_attachment(f"{name}.ogg", fixture(f"{name}.ogg"))
    ix = await fake.slash(user, None, "music", "classify", options={"file": att})
    return await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=60)


async def reply_to(fake: FakeDiscord, ix: InteractionRecord) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        return next(
            (m for m in ix.messages if not m["flags"] & LOADING and (m["content"] or m["embeds"])),
            None,
        )

    return await fake.wait_for(get, 10, f"a reply to {ix.id}")


async def test_like_button_and_hearts_on_a_result(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    db = earworm_service.db
    await running_bot(earworm_service)
    result = await classify(fake, "alice", "solo_trumpet")
    (track,) = await db.list_tracks(guild.id)
    bob, carol, alice = (fake.user(n).id for n in ("bob", "carol", "alice"))

    # ❤️ Like button: committed, then acknowledged privately.
    assert buttons(result)["Like"]["emoji"]["name"] == HEART
    ix = await fake.click("bob", result, f"earworm:like:{track.id}")
    reply = await reply_to(fake, ix)
    assert reply["ephemeral"] and reply["content"].startswith("❤️ Added to your likes.")
    assert await db.is_liked(guild.id, bob, track.id)
    ix = await fake.click("bob", result, f"earworm:like:{track.id}")
    assert "already in your likes" in (await reply_to(fake, ix))["content"]
    assert await db.count_likes(guild.id, bob) == 1

    # A ❤️ reaction on the result likes it; removing the reaction unlikes it.
    await fake.react("carol", result, HEART)
    await eventually(fake, lambda: db.is_liked(guild.id, carol, track.id), "carol's like")
    await fake.unreact("carol", result, HEART)
    await eventually(fake, lambda: _not(db.is_liked(guild.id, carol, track.id)), "carol's unlike")
    # The bare U+2764 counts too; other emoji don't.
    await fake.react("alice", result, "👍")
    await fake.react("alice", result, BARE_HEART)
    await eventually(fake, lambda: db.is_liked(guild.id, alice, track.id), "alice's like")
    assert await db.count_likes(guild.id, alice) == 1
    assert fake.bot_user.id not in fake.reactions_on(result).get(HEART, [])  # no noise


async def _not(awaitable: Awaitable[Any]) -> bool:
    return not await awaitable


async def test_heart_on_a_user_message_analyses_adds_and_likes(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    db = earworm_service.db
    await running_bot(earworm_service)
    alice, bob, carol = (fake.user(n).id for n in ("alice", "bob", "carol"))

    posted = await fake.post_user_message(
        "bob", "music", "new demo", attachments=[("demo.ogg", fixture("hungarian_dance_5.ogg"))]
    )
    jump = f"https://discord.com/channels/{guild.id}/{posted['channel_id']}/{posted['id']}"
    await fake.react("alice", posted, HEART)
    liked = await eventually(fake, lambda: db.list_likes(guild.id, alice), "alice's like")
    (track,) = liked
    assert (track.title, track.source_kind, track.source_url) == ("demo", "attachment", jump)
    assert track.added_by == bob and track.top_genre == "classical"  # bob shared it

    # Another heart on the same message reuses the catalog entry (no second download).
    downloads = sum(r["path"].endswith("/demo.ogg") for r in fake.requests)
    await fake.react("carol", posted, HEART)
    await eventually(fake, lambda: db.is_liked(guild.id, carol, track.id), "carol's like")
    assert sum(r["path"].endswith("/demo.ogg") for r in fake.requests) == downloads
    # Un-heart: unliked; the track stays in the catalog.
    await fake.unreact("alice", posted, HEART)
    await eventually(fake, lambda: _not(db.is_liked(guild.id, alice, track.id)), "the unlike")
    assert await db.count_tracks(guild.id) == 1

    # A link in a message works the same way.
    with serve_directory(FIXTURES) as base_url:
        link = f"{base_url}/solo_trumpet.ogg"
        linked = await fake.post_user_message("bob", "music", f"try <{link}> !")
        await fake.react("carol", linked, HEART)
        await eventually(fake, lambda: db.find_track_by_source(guild.id, link), "the link track")
    track2 = await db.find_track_by_source(guild.id, link)
    await eventually(fake, lambda: db.is_liked(guild.id, carol, track2.id), "carol's link like")

    # Speech: nothing added or liked; the message gets a quiet ⚠️ and no reply.
    speech = await fake.post_user_message(
        "bob", "music", "", attachments=[("talk.ogg", fixture("not_music_speech.ogg"))]
    )
    await fake.react("carol", speech, HEART)
    await fake.wait_for_reaction(speech, "⚠️", timeout=30)
    # A plain chat message: ignored.
    chat = await fake.post_user_message("bob", "music", "hello")
    await fake.react("carol", chat, HEART)
    await asyncio.sleep(0.3)
    assert fake.reactions_on(chat) == {HEART: [carol]}
    assert await db.count_tracks(guild.id) == 2
    assert [m for m in fake.messages_in("music") if m["author"]["bot"]] == []


async def test_likes_pages_and_removes(fake_discord, running_bot, earworm_service, monkeypatch):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    bob = fake.user("bob").id
    await running_bot(earworm_service)
    monkeypatch.setattr(likes_view(), "page_size", 2)

    ix = await fake.slash("bob", None, "music", "likes")
    empty = await reply_to(fake, ix)
    assert empty["ephemeral"] and "No likes yet" in empty["embeds"][0]["description"]
    assert empty["components"] == []

    tracks = await seed_catalog(earworm_service, guild.id, ["hungarian_dance_5", "solo_trumpet"])
    # A third track with a hostile title (markdown, a mention) must show escaped.
    hostile = await earworm_service.add_track(
        guild.id,
        FIXTURES / "vibe_ace.ogg",
        title="@everyone *Vibe* Ace",
        source_kind="link",
        source_url="https://example.com/vibe",
        added_by=bob,
    )
    for t in (tracks["hungarian_dance_5"], tracks["solo_trumpet"], hostile.track):
        await earworm_service.like(guild.id, bob, t.id)  # most recent first in the list

    ix = await fake.slash("bob", None, "music", "likes")
    page1 = await reply_to(fake, ix)
    (embed,) = page1["embeds"]
    assert page1["ephemeral"] and embed["footer"]["text"] == "Page 1 of 2 · 3 liked"
    lines = embed["description"].splitlines()
    assert lines[0].startswith("1. [@\u200beveryone \\*Vibe\\* Ace](https://example.com/vibe)")
    assert "Solo Trumpet" in lines[1] and len(lines) == 2
    b = buttons(page1)
    assert set(b) == {"Remove 1", "Remove 2", "◀", "▶"} and b["◀"]["disabled"]

    # Only bob can use his buttons.
    other = await fake.click("alice", page1, b["▶"]["custom_id"])
    assert "belong to someone else" in (await reply_to(fake, other))["content"]

    click = await fake.click("bob", page1, b["▶"]["custom_id"])
    assert (await fake.wait_for_response(click))["type"] == 7  # the list is edited in place
    page2 = fake.message(page1)
    assert page2["embeds"][0]["footer"]["text"] == "Page 2 of 2 · 3 liked"
    assert "Hungarian Dance" in page2["embeds"][0]["description"]
    b = buttons(page2)
    assert set(b) == {"Remove 3", "◀", "▶"} and b["▶"]["disabled"]

    # Remove 3: unliked in the database; the list moves back to the only page left.
    click = await fake.click("bob", page2, b["Remove 3"]["custom_id"])
    await fake.wait_for_response(click)
    assert not await earworm_service.db.is_liked(guild.id, bob, tracks["hungarian_dance_5"].id)
    now = fake.message(page1)
    assert now["embeds"][0]["footer"]["text"] == "Page 1 of 1 · 2 liked"
    assert set(buttons(now)) == {"Remove 1", "Remove 2"}


async def test_likes_buttons_switch_off_after_the_timeout(
    fake_discord, running_bot, earworm_service, monkeypatch
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    tracks = await seed_catalog(earworm_service, guild.id, ["solo_trumpet"])
    await earworm_service.like(guild.id, fake.user("bob").id, tracks["solo_trumpet"].id)
    await running_bot(earworm_service)
    monkeypatch.setattr(likes_view(), "timeout_s", 0.5)
    ix = await fake.slash("bob", None, "music", "likes")
    listing = await reply_to(fake, ix)
    assert not buttons(listing)["Remove 1"]["disabled"]
    await fake.wait_for(
        lambda: buttons(fake.message(listing))["Remove 1"]["disabled"], 5, "disabled buttons"
    )


async def test_a_restart_keeps_every_like_and_old_buttons_work(fake_discord, running_bot, tmp_path):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    bob, carol, alice = (fake.user(n).id for n in ("bob", "carol", "alice"))

    first = await running_bot(await _service(fake, tmp_path))
    result = await classify(fake, "alice", "solo_trumpet")
    like_id = buttons(result)["Like"]["custom_id"]
    ix = await fake.click("bob", result, like_id)
    assert (await reply_to(fake, ix))["content"].startswith("❤️ Added")  # acknowledged...
    await fake.react("carol", result, HEART)
    await eventually(
        fake, lambda: first.bot.services.db.is_liked(guild.id, carol, 1), "carol's like"
    )
    await first.stop()  # ...so it survives this (the bot closes the service and its database)

    second = await running_bot(await _service(fake, tmp_path))
    db = second.bot.services.db
    (track,) = await db.list_tracks(guild.id)
    assert await db.liked_track_ids(guild.id, bob) == {track.id}
    assert await db.liked_track_ids(guild.id, carol) == {track.id}

    ix = await fake.slash("bob", None, "music", "likes")
    listing = await reply_to(fake, ix)
    assert "solo\\_trumpet" in listing["embeds"][0]["description"]

    # The Like button on the message posted before the restart still works.
    ix = await fake.click("alice", result, like_id)
    assert (await reply_to(fake, ix))["content"].startswith("❤️ Added")
    assert await db.is_liked(guild.id, alice, track.id)
    # And so does un-hearting it (the new bot reads the track id from the message's buttons).
    await fake.unreact("carol", result, HEART)
    await eventually(fake, lambda: _not(db.is_liked(guild.id, carol, track.id)), "the unlike")


async def _service(fake: FakeDiscord, tmp_path: Path) -> Any:
    from tests.fake_discord.harness import make_settings

    return await make_services(make_settings(fake, tmp_path, workers=1))
