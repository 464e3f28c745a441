"""``/catalog add`` and ``/catalog stats`` end to end: the real bot, the fake Discord, a real
service, and real yt-dlp reading an HTML page with three <audio> tags from a local HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fake_discord import FakeDiscord
from tests.httpserver import serve_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE_AUDIO = ("solo_trumpet.ogg", "hungarian_dance_5.ogg", "vibe_ace.ogg")
EPHEMERAL = 64


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    return {"guilds": [{"name": "Earworm Test", "admins": ["alice"]}]}


def fields_of(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for e in message["embeds"] for f in e.get("fields", [])}


async def test_catalog_add_a_page_of_tracks_then_stats(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    running = await running_bot(earworm_service)
    (cmd,) = [c for c in fake.commands() if c["name"] == "catalog"]
    assert {o["name"] for o in cmd["options"]} == {"add", "stats"}
    assert cmd["contexts"] == [0]

    with serve_directory(FIXTURES) as base_url:
        query = urlencode([("audio", a) for a in PAGE_AUDIO] + [("title", "Mixtape")])
        page = f"{base_url}/_/page?{query}"

        # -- bob lacks Manage Server: refused, nothing fetched
        ix = await fake.slash("bob", guild, "music", "catalog add", options={"link": page})
        reply = await fake.wait_for_original(ix)
        assert reply["ephemeral"] and "Manage Server" in reply["content"]
        assert await earworm_service.db.count_tracks(guild.id) == 0

        # -- not a link
        ix = await fake.slash("alice", guild, "music", "catalog add", options={"link": "ftp://x/y"})
        reply = await fake.wait_for_original(ix)
        assert reply["ephemeral"] and "isn't a link" in reply["content"]

        # -- alice (admin): three tracks from one page, progress, then a summary
        ix = await fake.slash("alice", guild, "music", "catalog add", options={"link": page})
        response = await fake.wait_for_response(ix)
        assert response["type"] == 5 and response["at"] < 3.0
        done = await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=60)
        assert done["ephemeral"]
        assert any("Fetching" in v["content"] for v in done["history"])  # progress shown
        (embed,) = done["embeds"]
        assert embed["title"] == "Added 3 tracks to the catalog"
        assert embed["description"].startswith("Added 3, already there 0, failed 0.")
        added = fields_of(done)["Added"]
        assert added.count("\n") == 2 and added.count("](http://127.0.0.1:") == 3
        assert await earworm_service.db.count_tracks(guild.id) == 3
        tracks = await earworm_service.db.list_tracks(guild.id)
        alice = fake.user("alice")
        assert {t.added_by for t in tracks} == {alice.id}
        assert {t.source_kind for t in tracks} == {"link"}

        # -- the same page again: already there, nothing new
        ix = await fake.slash("alice", guild, "music", "catalog add", options={"link": page})
        again = await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=60)
        assert again["embeds"][0]["title"] == "Already in the catalog"
        assert again["embeds"][0]["description"].startswith("Added 0, already there 3, failed 0.")
        assert await earworm_service.db.count_tracks(guild.id) == 3

        # -- a dead link: the same reply says why
        ix = await fake.slash(
            "alice", guild, "music", "catalog add", options={"link": f"{base_url}/_/status/404"}
        )
        failed = await fake.wait_for_original(ix, lambda m: m["content"].startswith("❌"), 60)
        assert failed["ephemeral"] and not failed["embeds"]

    # -- stats, for anyone: size, length, contributors, likes, genre mix
    await earworm_service.like(guild.id, fake.user("bob").id, tracks[0].id)
    ix = await fake.slash("bob", guild, "general", "catalog stats")
    stats = await fake.wait_for_original(ix)
    assert not stats["ephemeral"]
    fields = fields_of(stats)
    assert fields["Tracks"] == "3 tracks"
    assert fields["Contributors"] == "1" and fields["❤️ Likes"] == "1"
    total = sum(t.duration_s for t in tracks)
    assert fields["Total length"] == f"{int(round(total)) // 60}:{int(round(total)) % 60:02d}"
    mix = fields["Genre mix"].splitlines()
    assert "**jazz**" in mix[0] and any("**classical**" in line for line in mix)
    shares = [int(line.rsplit(" ", 1)[1].rstrip("%")) for line in mix if line.endswith("%")]
    assert 97 <= sum(shares) <= 103
    assert running.errors == []


async def test_catalog_stats_of_an_empty_catalog(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    await running_bot(earworm_service)
    ix = await fake.slash("carol", fake.guild(), "general", "catalog stats")
    stats = await fake.wait_for_original(ix)
    assert "The catalog is empty" in stats["embeds"][0]["description"]
