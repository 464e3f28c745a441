"""``/catalog add`` and ``/catalog stats`` end to end: the real bot, the fake Discord, a real
service, and real yt-dlp reading HTML pages with <audio> tags from a local HTTP server.

Issue 9, item 12: a 65-track page gets a summary within Discord's limits (the fake answers 400
to any message over them, as Discord does), and an import that outlives the interaction token
(made short here: the bot's deadline by configuration, the fake's token lifetime by option)
finishes as a channel message."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fake_discord import FakeDiscord, validate_message
from tests.httpserver import serve_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE_AUDIO = ("solo_trumpet.ogg", "hungarian_dance_5.ogg", "vibe_ace.ogg")


@pytest.fixture
def fake_discord_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {"guilds": [{"name": "Earworm Test", "admins": ["alice"]}]}
    return options | getattr(request, "param", {})


HOSTILE = "[Official Video] **Loud** _x_ `y` ||z|| <@123456789012345678> @everyone ] [ ~~"
MORE_RE = re.compile(r"^…and (\d+) more$")
COUNT_RE = re.compile(r" \((\d+) tracks\)$")


def sections(embed: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per section of the summary: (tracks listed, tracks counted in "…and N more")."""
    out: dict[str, list[int]] = {}
    name = ""
    for f in embed.get("fields", []):
        if f["name"] != "\u200b":
            name = f["name"]
            out[name] = [0, 0]
        for line in f["value"].split("\n"):
            more = MORE_RE.match(line)
            if more:
                out[name][1] += int(more[1])
            else:
                assert line.startswith("• "), line
                count = COUNT_RE.search(line)
                out[name][0] += int(count[1]) if count else 1
    return {k: (v[0], v[1]) for k, v in out.items()}


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


async def test_a_big_page_through_the_real_bot_gets_a_summary_within_limits(
    fake_discord, running_bot, tmp_path
):
    from bot.fetch import FetchLimits
    from bot.service.app import EarwormService
    from bot.service.engine import EngineConfig

    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    service = await EarwormService.open(
        tmp_path / "earworm.db",
        EngineConfig(workers=2, job_timeout_s=60, max_queue=32),
        FetchLimits(allow_private=True, timeout_s=120, max_playlist_items=1000),
    )
    await running_bot(service, max_playlist_items=1000)
    # A page with 25 copies of one track (1 added, 24 already there) and 40 of a bird song (not
    # music), under a long hostile title (each entry's title is the page's, numbered).
    audio = [f"solo_trumpet.ogg?copy={i}" for i in range(25)]
    audio += [f"not_music_robin.ogg?copy={i}" for i in range(40)]
    for name in ("solo_trumpet.ogg", "not_music_robin.ogg"):
        (tmp_path / name).write_bytes((FIXTURES / name).read_bytes())
    (tmp_path / "playlist.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(HOSTILE * 3)}"
        "</title></head><body>"
        + "".join(f'<audio controls src="/{html.escape(a, quote=True)}"></audio>' for a in audio)
        + "</body></html>",
        encoding="utf-8",
    )
    with serve_directory(tmp_path) as base_url:
        page = f"{base_url}/playlist.html"
        ix = await fake.slash("alice", guild, "music", "catalog add", options={"link": page})
        done = await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=180)
    (embed,) = done["embeds"]
    assert done["ephemeral"] and validate_message({"embeds": [embed]}) is None
    assert embed["description"].startswith("Added 1, already there 24, failed 40.")
    got = sections(embed)
    assert got["Added"] == (1, 0)
    assert sum(got["Already in the catalog"]) == 24 and sum(got["Couldn't add"]) == 40
    assert got["Couldn't add"][0] == 40  # one reason, 40 tracks: one line
    assert await service.db.count_tracks(guild.id) == 1


@pytest.mark.parametrize(
    "fake_discord_options", [{"interaction_token_lifetime_s": 3.0}], indirect=True
)
async def test_an_import_past_the_token_deadline_finishes_in_the_channel(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice = fake.user("alice")
    # Interaction tokens live 3 s here (15 min on Discord); the bot stops using one after 0.5 s.
    await running_bot(earworm_service, interaction_deadline_s=0.5)
    slow = "/_/slow/{}?delay=0.2&chunk=2048"  # ~2.8 s for 27 kB
    srcs = [slow.format("solo_trumpet.ogg"), slow.format("solo_trumpet.ogg") + "&copy=2"]
    with serve_directory(FIXTURES) as base_url:
        page = f"{base_url}/_/page?" + urlencode([("audio", s) for s in srcs])
        ix = await fake.slash(alice, guild, "music", "catalog add", options={"link": page})
        posted = await fake.wait_for_message("music", lambda m: bool(m["embeds"]), timeout=60)

    # The summary came as a normal channel message, naming (and only pinging) alice.
    assert "interaction_metadata" not in posted and not posted["ephemeral"]
    assert posted["content"].startswith(f"<@{alice.id}>, your import of <")
    assert [int(u) for u in posted["allowed_mentions"]["users"]] == [alice.id]
    assert posted["allowed_mentions"]["parse"] == []
    (embed,) = posted["embeds"]
    assert embed["description"].startswith("Added 1, already there 1, failed 0.")
    # The private reply said so before the token ran out, and was never touched after.
    reply = ix.original
    assert reply is not None and reply["ephemeral"] and "in this channel" in reply["content"]
    assert not reply["embeds"]
    assert fake.problems == []  # no use of the token after it expired
    assert await earworm_service.db.count_tracks(guild.id) == 1
