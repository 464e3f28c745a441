"""Listening parties end to end: ``/party start``, the persistent Join / Leave buttons,
``/party playlist`` and ``/party end``, with the real bot, the fake Discord and a real service."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_discord.seed import seed_catalog

JOIN = "earworm:party:join:{}"
LEAVE = "earworm:party:leave:{}"
MEMBER_LINE = re.compile(
    r"^\*\*(?P<name>.+?)\*\*: (?:(?P<share>\d+) picks? for them · (?P<served>\d+) close to their taste · "
    r"satisfaction (?P<sat>[0-9.]+)|(?P<status>no likes yet))$"
)


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    # erin manages the server (Manage Server), and is in no party unless she joins.
    users = ["alice", "bob", "carol", "dave", "erin"]
    return {"users": users, "guilds": [{"name": "Earworm Test", "admins": ["erin"]}]}


class NoClose:
    """The service without ``aclose``, so a bot that stops doesn't close it for the next one."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        if name == "aclose":
            raise AttributeError(name)
        return getattr(self._service, name)


def party_id_of(message: dict[str, Any]) -> int:
    ids = [
        c["custom_id"]
        for row in message["components"]
        for c in row["components"]
        if c.get("custom_id", "").startswith("earworm:party:join:")
    ]
    assert len(ids) == 1, message["components"]
    return int(ids[0].rsplit(":", 1)[1])


def members_field(message: dict[str, Any]) -> str:
    (embed,) = message["embeds"]
    field = next(f for f in embed["fields"] if f["name"].startswith("In the party"))
    return field["name"] + "\n" + field["value"]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["label"]: c for row in message["components"] for c in row["components"]}


def member_lines(message: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    fields = [f for e in message["embeds"] for f in e.get("fields", [])]
    start = next(i for i, f in enumerate(fields) if f["name"] == "Who gets what")
    lines = "\n".join(f["value"] for f in fields[start:]).splitlines()
    out = {}
    for line in lines:
        m = MEMBER_LINE.match(line)
        assert m, line
        out[m["name"]] = m.groupdict()
    return out


async def test_party_join_playlist_leave_and_end(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice, bob, carol, dave = (fake.user(n) for n in ("alice", "bob", "carol", "dave"))
    tracks = await seed_catalog(earworm_service, guild.id)
    await earworm_service.like(guild.id, alice.id, tracks["vibe_ace"].id)
    await earworm_service.like(guild.id, bob.id, tracks["hungarian_dance_5"].id)
    await earworm_service.like(guild.id, carol.id, tracks["lets_go_fishin"].id)
    running = await running_bot(earworm_service)

    # -- alice starts a party: a public message with Join / Leave; she is in it
    ix = await fake.slash(alice, guild, "music", "party start")
    response = await fake.wait_for_response(ix)
    assert response["type"] == 4 and not response["message"]["ephemeral"]
    party_msg = ix.original
    assert party_msg is not None and party_msg in fake.messages_in("music")
    assert party_msg["allowed_mentions"] == {"parse": []}
    pid = party_id_of(party_msg)
    assert set(buttons(party_msg)) == {"Join", "Leave"}
    assert buttons(party_msg)["Join"]["custom_id"] == JOIN.format(pid)
    assert buttons(party_msg)["Leave"]["custom_id"] == LEAVE.format(pid)
    assert f"<@{alice.id}>" in party_msg["embeds"][0]["description"]  # the host
    assert members_field(party_msg).startswith("In the party (1)")
    party = await earworm_service.db.get_party(pid)
    assert party.message_id == int(party_msg["id"]) and party.host_id == alice.id

    # -- bob, carol and dave join: the message updates each time
    for n, user in enumerate((bob, carol, dave), start=2):
        click = await fake.click(user, party_msg, JOIN.format(pid))
        response = await fake.wait_for_response(click)
        assert response["type"] == 6 and response["at"] < 3.0  # acknowledged at once...
        await fake.wait_for(  # ...then the party message itself is updated
            lambda n=n: members_field(party_msg).startswith(f"In the party ({n})")
        )
        assert f"<@{user.id}>" in members_field(party_msg)
    assert [m.user_id for m in await earworm_service.db.members(pid)] == [
        alice.id,
        bob.id,
        carol.id,
        dave.id,
    ]

    # Joining twice: a private note, no change.
    edits = len(party_msg["history"])
    click = await fake.click(bob, party_msg, JOIN.format(pid))
    reply = await fake.wait_for_followup(click)
    assert reply["ephemeral"] and "already in this party" in reply["content"]
    assert len(party_msg["history"]) == edits

    # -- /party playlist: one public playlist, fair shares, satisfaction, "no likes yet"
    before = len(fake.messages_in("music"))
    ix = await fake.slash(bob, guild, "music", "party playlist", options={"count": 4})
    assert (await fake.wait_for_response(ix))["type"] == 5
    playlist = await fake.wait_for_original(ix, timeout=20)
    assert not playlist["ephemeral"] and playlist["allowed_mentions"] == {"parse": []}
    assert len(fake.messages_in("music")) == before + 1  # one message
    embed = playlist["embeds"][0]
    assert embed["title"] == "🎶 Party playlist: 4 tracks for 4 people"
    lines = member_lines(playlist)
    assert set(lines) == {"Alice", "Bob", "Carol", "Dave"}  # display names, not ids
    assert lines["Dave"]["status"] == "no likes yet"
    shares = {name: int(v["share"]) for name, v in lines.items() if v["share"] is not None}
    assert set(shares) == {"Alice", "Bob", "Carol"}
    assert sum(shares.values()) == 4 and min(shares.values()) >= 1
    for name in shares:
        assert 0.0 <= float(lines[name]["sat"]) <= 1.0
    # Each pick says whose taste it serves; the counts match the shares.
    description = "\n".join(e.get("description") or "" for e in playlist["embeds"])
    fors = re.findall(r"^└ for (\w+) · ", description, flags=re.M)
    assert len(fors) == 4 and {n: fors.count(n) for n in shares} == shares
    assert description.count("](https://example.com/") == 4  # every pick linked
    assert "they liked" in description

    # -- dave leaves: the message updates; leaving again is refused
    click = await fake.click(dave, party_msg, LEAVE.format(pid))
    await fake.wait_for(lambda: members_field(party_msg).startswith("In the party (3)"))
    assert f"<@{dave.id}>" not in members_field(party_msg)
    click = await fake.click(dave, party_msg, LEAVE.format(pid))
    reply = await fake.wait_for_followup(click)
    assert reply["ephemeral"] and "not in this party" in reply["content"]

    # Someone outside the party can't ask for its playlist.
    ix = await fake.slash(dave, guild, "music", "party playlist")
    reply = await fake.wait_for_original(ix)
    assert reply["ephemeral"] and "Join the party first" in reply["content"]

    # -- one party per channel
    ix = await fake.slash(bob, guild, "music", "party start")
    reply = await fake.wait_for_original(ix)
    assert reply["ephemeral"] and "A party is already running here" in reply["content"]
    assert f"/{guild.id}/{fake.channel('music').id}/{party_msg['id']}" in reply["content"]

    # -- ending: not by bob (not the host, no Manage Server); by alice, the host
    ix = await fake.slash(bob, guild, "music", "party end")
    reply = await fake.wait_for_original(ix)
    assert reply["ephemeral"] and "Only the host" in reply["content"]
    assert (await earworm_service.db.get_party(pid)).active

    ix = await fake.slash(alice, guild, "music", "party end")
    reply = await fake.wait_for_original(ix)
    assert reply["ephemeral"] and "party is over" in reply["content"]
    await fake.wait_for(lambda: party_msg["history"] and "ended" in party_msg["embeds"][0]["title"])
    assert all(b["disabled"] for b in buttons(party_msg).values())
    assert not (await earworm_service.db.get_party(pid)).active
    ix = await fake.slash(alice, guild, "music", "party playlist")
    reply = await fake.wait_for_original(ix)
    assert "No party is running in this channel" in reply["content"]
    assert running.errors == []


async def test_join_still_works_after_a_restart(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    first = await running_bot(NoClose(earworm_service))
    ix = await fake.slash("carol", guild, "general", "party start")
    await fake.wait_for_response(ix)
    party_msg = ix.original
    pid = party_id_of(party_msg)
    await first.stop()

    await running_bot(NoClose(earworm_service))  # a new process would look the same
    await fake.click("alice", party_msg, JOIN.format(pid))
    await fake.wait_for(lambda: members_field(party_msg).startswith("In the party (2)"))
    members = [m.user_id for m in await earworm_service.db.members(pid)]
    assert members == [fake.user("carol").id, fake.user("alice").id]

    # And the playlist names people the new process never saw (a REST lookup); nobody has
    # likes and the catalog is empty: says so.
    ix = await fake.slash("alice", guild, "general", "party playlist", options={"count": 3})
    playlist = await fake.wait_for_original(ix, timeout=20)
    lines = member_lines(playlist)
    assert {name: v["status"] for name, v in lines.items()} == {
        "Carol": "no likes yet",
        "Alice": "no likes yet",
    }
    assert "catalog is empty" in playlist["embeds"][0]["description"]

    # With music but no likes: the cold-start note and a varied pick, not "for" anyone.
    await seed_catalog(earworm_service, guild.id, ["solo_trumpet"])
    ix = await fake.slash("carol", guild, "general", "party playlist", options={"count": 3})
    playlist = await fake.wait_for_original(ix, timeout=20)
    description = playlist["embeds"][0]["description"]
    assert "Nobody in this party has liked anything yet" in description
    (reason,) = [line for line in description.splitlines() if line.startswith("└ ")]
    assert reason.startswith("└ a varied pick from this server · jazz")

    # Three clicks at once: each is acknowledged in time and the message ends up complete.
    clicks = await asyncio.gather(
        *(fake.click(u, party_msg, JOIN.format(pid)) for u in ("bob", "dave", "erin"))
    )
    for click in clicks:
        assert (await fake.wait_for_response(click))["at"] < 3.0
    await fake.wait_for(lambda: members_field(party_msg).startswith("In the party (5)"))
    assert len(await earworm_service.db.members(pid)) == 5

    # Someone with Manage Server may end a party they don't host.
    ix = await fake.slash("erin", guild, "general", "party end")
    reply = await fake.wait_for_original(ix)
    assert reply["ephemeral"] and "party is over" in reply["content"]
    await fake.wait_for(lambda: "ended" in party_msg["embeds"][0]["title"])
    assert all(b["disabled"] for b in buttons(party_msg).values())


def test_a_big_party_playlist_stays_within_discords_limits():
    """60 members: the "who gets what" lines spill into further embeds and messages, each
    within Discord's limits, none lost."""
    from bot.discord.playlist_embeds import embed_size, party_playlist_messages
    from bot.service.results import PartyResult
    from inference.recommend import MemberReport, PartyPlaylist

    members = [MemberReport(uid, "ok", 1, 2, 0.5) for uid in range(1, 61)]
    names = {uid: f"Member number {uid} " + "x" * 60 for uid in range(1, 61)}
    messages = party_playlist_messages(PartyResult(PartyPlaylist([], members), {}), names)
    lines = []
    for embeds in messages:
        assert len(embeds) <= 10 and sum(embed_size(e) for e in embeds) <= 6000
        for e in embeds:
            assert len(e.fields) <= 25
            lines += [ln for f in e.fields for ln in f.value.splitlines()]
    assert len(lines) == 60 and all("satisfaction 0.50" in ln for ln in lines)
