"""``/forget`` end to end: the confirmation, Cancel, someone else's click, and what is left in the
database afterwards (read directly with sqlite3)."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from tests.bot.test_e2e_likes import FIXTURES, HEART, eventually, fixture
from tests.fake_discord import FakeDiscord
from tests.fake_discord.seed import seed_catalog
from tests.httpserver import serve_directory


def count(service: Any, sql: str, *params: Any) -> int:
    with sqlite3.connect(service.db.path) as conn:
        return conn.execute(sql, params).fetchone()[0]


def footprint(service: Any, user_id: int) -> dict[str, int]:
    return {
        "likes": count(service, "SELECT COUNT(*) FROM likes WHERE user_id = ?", user_id),
        "party_members": count(
            service, "SELECT COUNT(*) FROM party_members WHERE user_id = ?", user_id
        ),
        "recommendations": count(
            service, "SELECT COUNT(*) FROM recommendations WHERE user_id = ?", user_id
        ),
        "tracks_added": count(service, "SELECT COUNT(*) FROM tracks WHERE added_by = ?", user_id),
        "parties_hosted": count(service, "SELECT COUNT(*) FROM parties WHERE host_id = ?", user_id),
    }


def button(message: dict[str, Any], label: str) -> str:
    for row in message["components"]:
        for c in row["components"]:
            if c.get("label") == label:
                return c["custom_id"]
    raise AssertionError(f"no button {label!r} in {message['components']}")


async def test_forget_cancel_other_user_then_confirm(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice, bob = fake.user("alice"), fake.user("bob")
    channel = fake.channel("music")
    mine = await seed_catalog(earworm_service, guild.id, ["solo_trumpet"], added_by=alice.id)
    theirs = await seed_catalog(earworm_service, guild.id, ["hungarian_dance_5"], added_by=bob.id)
    await seed_catalog(earworm_service, guild.id, ["vibe_ace", "sugar_plum_fairy"])
    for user in (alice, bob):
        for track in (*mine.values(), *theirs.values()):
            await earworm_service.like(guild.id, user.id, track.id)
    party = await earworm_service.db.start_party(guild.id, channel.id, alice.id)
    await earworm_service.db.join(party.id, bob.id)
    await earworm_service.recommend(guild.id, alice.id, 5)
    await earworm_service.recommend(guild.id, bob.id, 5)
    await running_bot(earworm_service)

    alice_before = footprint(earworm_service, alice.id)
    bob_before = footprint(earworm_service, bob.id)
    assert alice_before == {
        "likes": 2, "party_members": 1, "recommendations": 2, "tracks_added": 1,
        "parties_hosted": 1,
    }  # fmt: skip
    assert bob_before["likes"] == 2 and bob_before["recommendations"] == 2

    # -- Cancel: nothing is deleted
    ix = await fake.slash(alice, guild, "music", "forget")
    prompt = await fake.wait_for_original(ix)
    assert (
        prompt["ephemeral"] and "Delete everything Earworm stored about you?" in prompt["content"]
    )
    red = next(c for r in prompt["components"] for c in r["components"] if c["style"] == 4)
    assert red["label"] == "Delete everything about me"
    click = await fake.click(alice, prompt, button(prompt, "Cancel"))
    await fake.wait_for_response(click)
    assert prompt["content"].startswith("Cancelled") and prompt["components"] == []
    assert footprint(earworm_service, alice.id) == alice_before

    # -- someone else can't press alice's button
    ix = await fake.slash(alice, guild, "music", "forget")
    prompt = await fake.wait_for_original(ix)
    confirm_id = button(prompt, "Delete everything about me")
    click = await fake.click(bob, prompt, confirm_id)
    reply = await fake.wait_for_original(click)
    assert reply["ephemeral"] and "belong to someone else" in reply["content"]
    assert footprint(earworm_service, alice.id) == alice_before
    assert footprint(earworm_service, bob.id) == bob_before

    # -- alice confirms: everything about her goes; her track stays, unlinked; bob is untouched
    click = await fake.click(alice, prompt, confirm_id)
    await fake.wait_for(lambda: prompt["content"].startswith("Done"), timeout=10)
    assert prompt["components"] == []
    summary = prompt["content"]
    assert "2 likes" in summary and "1 party membership" in summary
    assert "2 recommendation records" in summary
    assert "1 track you shared" in summary and "no longer linked to you" in summary
    assert footprint(earworm_service, alice.id) == dict.fromkeys(alice_before, 0)
    assert footprint(earworm_service, bob.id) == bob_before
    track_id = mine["solo_trumpet"].id
    assert count(earworm_service, "SELECT COUNT(*) FROM tracks WHERE id = ?", track_id) == 1
    assert (
        count(
            earworm_service,
            "SELECT COUNT(*) FROM tracks WHERE id = ? AND added_by IS NULL",
            track_id,
        )
        == 1
    )
    assert fake.messages_in("music") == []  # all of it private

    # A second /forget finds nothing left.
    ix = await fake.slash(alice, None, None, "forget")  # works in a DM too
    prompt = await fake.wait_for_original(ix)
    click = await fake.click(alice, prompt, button(prompt, "Delete everything about me"))
    await fake.wait_for(lambda: prompt["content"].startswith("Done"), timeout=10)
    assert "nothing was deleted" in prompt["content"]


async def test_forget_confirmation_expires(fake_discord, running_bot, monkeypatch):
    fake: FakeDiscord = fake_discord
    await running_bot()  # no services needed: nothing is deleted
    # The module the bot loaded (extensions are imported afresh by each bot).
    monkeypatch.setattr(sys.modules["bot.discord.cogs.forget"], "CONFIRM_TIMEOUT_S", 0.3)
    ix = await fake.slash("carol", fake.guild(), "general", "forget")
    prompt = await fake.wait_for_original(ix)
    await fake.wait_for(lambda: "expired" in prompt["content"], timeout=5)
    assert prompt["components"] == [] and "nothing was deleted" in prompt["content"]


async def test_a_heart_on_someone_elses_post_is_a_like_not_a_share(
    fake_discord, running_bot, earworm_service
):
    """Alice posts a track (a file, then a link); Bob hearts both. The catalog credits Alice
    with sharing them and Bob with liking them, so each one's /forget does and says the right
    thing (issue 9, item 14)."""
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice, bob = fake.user("alice"), fake.user("bob")
    db = earworm_service.db
    await running_bot(earworm_service)

    async def hearted(message: dict[str, Any]) -> Any:
        """Bob hearts ``message``; the track his new like points at."""
        before = len(await db.list_likes(guild.id, bob.id))
        await fake.react(bob, message, HEART)

        async def new_like() -> Any:
            found = await db.list_likes(guild.id, bob.id)  # newest first
            return found[0] if len(found) > before else None

        return await eventually(fake, new_like, "bob's like", timeout=60)

    data = fixture("hungarian_dance_5.ogg")
    posted = await fake.post_user_message(alice, "music", "my demo", [("demo.ogg", data)])
    file_track = await hearted(posted)
    with serve_directory(FIXTURES) as base_url:
        linked = await fake.post_user_message(alice, "music", f"and {base_url}/vibe_ace.ogg")
        link_track = await hearted(linked)
    for track in (file_track, link_track):
        assert track.added_by == alice.id  # the poster shared it...
        assert await db.is_liked(guild.id, bob.id, track.id)  # ...the reactor liked it
        assert not await db.is_liked(guild.id, alice.id, track.id)
    assert footprint(earworm_service, bob.id)["tracks_added"] == 0

    async def forget(user: Any) -> str:
        ix = await fake.slash(user, guild, "music", "forget")
        prompt = await fake.wait_for_original(ix)
        await fake.click(user, prompt, button(prompt, "Delete everything about me"))
        await fake.wait_for(lambda: prompt["content"].startswith("Done"), timeout=10)
        return prompt["content"]

    # Bob's /forget: his two likes go; he shared nothing, so nothing is "unlinked".
    summary = await forget(bob)
    assert "Deleted: 2 likes." in summary and "shared" not in summary, summary
    assert footprint(earworm_service, bob.id) == dict.fromkeys(footprint(earworm_service, 0), 0)
    assert {t.added_by for t in await db.list_tracks(guild.id)} == {alice.id}

    # Alice's /forget: her two shares stay in the catalog, no longer linked to her.
    summary = await forget(alice)
    assert "2 tracks you shared stay in the catalog" in summary and "like" not in summary, summary
    assert {t.added_by for t in await db.list_tracks(guild.id)} == {None}
    assert await db.count_tracks(guild.id) == 2
