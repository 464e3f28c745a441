"""``/classify`` and "Analyze with Earworm" end to end: the real bot over real sockets against the
fake Discord, a real service (SQLite file, analysis worker processes) and real yt-dlp reading a
local HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.cli.run import make_services
from bot.discord.embeds import analysis_embed, safe_text
from tests.bot.test_e2e_likes import eventually
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.harness import make_settings
from tests.fake_discord.seed import seed_catalog
from tests.httpserver import LocalHTTPServer, serve_directory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOADING = 128


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def fields_of(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


async def result_of(fake: FakeDiscord, ix: InteractionRecord, timeout: float = 60) -> dict:
    """The public result: the deferred response once it carries the embed."""
    return await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=timeout)


async def ephemeral_reply(fake: FakeDiscord, ix: InteractionRecord, timeout: float = 60) -> dict:
    """The ephemeral message that answers ``ix`` (a first response or a followup)."""

    def get() -> dict | None:
        for m in ix.messages:
            if m["ephemeral"] and not m["flags"] & LOADING and (m["content"] or m["embeds"]):
                return m
        return None

    return await fake.wait_for(get, timeout, f"an ephemeral reply to {ix.id}")


def assert_left_nothing_public(fake: FakeDiscord, ix: InteractionRecord) -> None:
    """A refused request leaves no public message: the progress message was deleted."""
    if ix.original is not None and not ix.original["ephemeral"]:
        assert ix.original["deleted"], ix.original
    assert all(m["ephemeral"] or m["deleted"] for m in ix.messages)


def check_result(message: dict[str, Any], *, title: str, genre: str, track_id: int) -> dict:
    """The common shape of a result message; returns its embed."""
    assert not message["ephemeral"]
    assert message["allowed_mentions"] == {"parse": []}
    assert message["content"] == ""
    (embed,) = message["embeds"]
    assert title in embed["title"].replace("\\", "")
    assert re.search(rf"\*\*{re.escape(genre)}\*\* \d+%", embed["description"]), embed
    fields = fields_of(embed)
    assert re.fullmatch(r"\d+ BPM(, or \d+ (half|double) time)?|no steady beat", fields["Tempo"])
    key = r"[A-G][b#]? (major|minor)"
    assert re.fullmatch(rf"{key} · relative of {key} · (1[012]|[1-9])[AB]|no clear key", fields["Key"])
    assert re.fullmatch(r"\d+:\d\d.*", fields["Length"])
    assert embed["footer"]["text"].startswith("Earworm · model earworm2-")
    assert re.fullmatch(r"[a-z/]+ \d+%( · [a-z/]+ \d+%)?", fields["Mood"]), fields
    (att,) = message["attachments"]
    assert att["filename"] == "genres.png"
    assert embed["image"]["url"] == att["url"]  # attachment://genres.png, resolved
    image = Image.open(io.BytesIO(att["data"]))
    image.load()
    assert image.format == "PNG" and image.width >= 200 and image.height >= 100
    assert custom_ids(message) == [f"earworm:like:{track_id}", f"earworm:more:{track_id}"]
    return embed


# ---------------------------------------------------------------------------- sync


async def test_classify_and_the_message_menu_are_synced(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    await running_bot()
    by_name = {c["name"]: c for c in fake.commands()}
    classify = by_name["classify"]
    assert classify["type"] == 1 and classify["description"]
    assert classify["contexts"] == [0]  # guild only
    options = {o["name"]: o for o in classify["options"]}
    assert options["file"]["type"] == 11 and options["link"]["type"] == 3
    assert not options["file"].get("required") and not options["link"].get("required")
    assert options["file"]["description"] and options["link"]["description"]
    menu = by_name["Analyze with Earworm"]
    assert menu["type"] == 3 and menu["contexts"] == [0]


# ---------------------------------------------------------------------------- happy paths


async def test_classify_an_attachment(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(earworm_service)
    att = fake.register_attachment("vibe_ace.ogg", fixture("vibe_ace.ogg"))

    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
    response = await fake.wait_for_response(ix)
    assert response["type"] == 5 and response["at"] < 1.0  # deferred at once
    assert not response["message"]["ephemeral"]
    message = await result_of(fake, ix)

    progress = [v["content"] for v in message["history"]]
    assert progress[0] == "⬇️ Downloading…" and "🎧 Analyzing…" in progress

    # The catalog links to the result message (there is no other message with the file); the
    # bot records that link just after posting the result.
    async def recorded() -> Any:
        (track,) = await earworm_service.db.list_tracks(guild.id)  # the guild's only track
        return track if track.source_url is not None else None

    track = await eventually(fake, recorded, "the track's source link", timeout=10)
    embed = check_result(message, title="vibe_ace", genre="electronic", track_id=track.id)
    assert "Mood" in fields_of(embed) or "Instruments" in fields_of(embed)
    assert (track.source_kind, track.added_by) == ("attachment", fake.user("alice").id)
    assert track.source_url is not None
    assert track.source_url.endswith(f"/{guild.id}/{message['channel_id']}/{message['id']}")
    # Public and visible in the channel; the file was downloaded once from the CDN.
    assert fake.messages_in("music")[-1]["id"] == message["id"]
    assert sum(r["path"].endswith("/vibe_ace.ogg") for r in fake.requests) == 1


async def test_classify_a_link_downloads_with_ytdlp(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(earworm_service)
    with LocalHTTPServer(FIXTURES) as server:
        link = server.url("hungarian_dance_5.ogg")
        ix = await fake.slash("bob", guild, "music", "classify", options={"link": link})
        response = await fake.wait_for_response(ix)
        assert response["type"] == 5 and response["at"] < 1.0
        message = await result_of(fake, ix)
        assert any(r.path.endswith("hungarian_dance_5.ogg") for r in server.requests)

    (track,) = await earworm_service.db.list_tracks(guild.id)
    embed = check_result(message, title="hungarian_dance_5", genre="classical", track_id=track.id)
    assert (track.source_kind, track.source_url) == ("link", link)
    assert embed["url"] == link  # the title links to the source
    assert message["history"][0]["content"].startswith("⬇️ Downloading…")

    # The same link again: answered from the catalog, nothing downloaded.
    ix = await fake.slash("carol", guild, "music", "classify", options={"link": link})
    again = await result_of(fake, ix)
    assert custom_ids(again) == custom_ids(message)
    assert "Already in this server's catalog" in again["embeds"][0]["description"]
    assert await earworm_service.db.count_tracks(guild.id) == 1


async def test_message_menu_on_a_user_message(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(earworm_service)
    posted = await fake.post_user_message(
        "carol",
        "music",
        "listen to this @everyone",
        attachments=[("solo_trumpet.ogg", fixture("solo_trumpet.ogg"))],
    )
    ix = await fake.message_command("alice", guild, "music", "Analyze with Earworm", posted)
    assert (await fake.wait_for_response(ix))["type"] == 5
    message = await result_of(fake, ix)
    (track,) = await earworm_service.db.list_tracks(guild.id)
    embed = check_result(message, title="solo_trumpet", genre="jazz", track_id=track.id)
    # The catalog (and the embed's link) point at the original message.
    jump = f"https://discord.com/channels/{guild.id}/{posted['channel_id']}/{posted['id']}"
    assert track.source_url == jump and embed["url"] == jump
    assert track.added_by == fake.user("carol").id  # carol shared it; alice only asked

    # A message with neither audio nor a link: a private, specific answer.
    chat = await fake.post_user_message("bob", "music", "no music here")
    ix = await fake.message_command("alice", guild, "music", "Analyze with Earworm", chat)
    reply = await ephemeral_reply(fake, ix)
    assert "can't find an audio file or a link" in reply["content"]


async def test_more_like_this_lists_the_nearest_tracks(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(earworm_service)
    seeded = await seed_catalog(earworm_service, guild.id, ["hungarian_dance_5", "vibe_ace"])
    att = fake.register_attachment("solo_trumpet.ogg", fixture("solo_trumpet.ogg"))
    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
    message = await result_of(fake, ix)
    more = next(c for c in custom_ids(message) if c.startswith("earworm:more:"))

    click = await fake.click("bob", message, more)
    listing = await ephemeral_reply(fake, click)
    assert listing["ephemeral"]
    (embed,) = listing["embeds"]
    assert embed["title"].startswith("More like solo")
    lines = embed["description"].splitlines()
    assert len(lines) == 2  # everything else in the catalog, itself excluded
    for name, track in seeded.items():
        assert f"[{track.title}]({track.source_url})" in embed["description"], name
    assert "solo" not in embed["description"]
    assert all(re.search(r"\d+% alike", line) for line in lines)


# ---------------------------------------------------------------------------- bad input


async def test_bad_inputs_each_get_their_own_message(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    await running_bot(earworm_service)

    # Neither a file nor a link (or both): refused before deferring.
    ix = await fake.slash("alice", guild, "music", "classify")
    reply = await ephemeral_reply(fake, ix)
    assert ix.response["type"] == 4 and "either a file or a link" in reply["content"]

    # An image renamed .mp3.
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    att = fake.register_attachment("song.mp3", png.getvalue(), "audio/mpeg")
    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
    reply = await ephemeral_reply(fake, ix)
    assert "PNG image" in reply["content"]
    assert_left_nothing_public(fake, ix)

    # Speech: analyzed, but not music, and not added.
    att = fake.register_attachment("talk.ogg", fixture("not_music_speech.ogg"))
    ix = await fake.slash("bob", guild, "music", "classify", options={"file": att})
    reply = await ephemeral_reply(fake, ix)
    assert "This doesn't sound like music: it sounds like speech." in reply["content"]
    assert reply["embeds"] and "Music confidence" in reply["embeds"][0]["description"]
    assert_left_nothing_public(fake, ix)

    with serve_directory(FIXTURES) as base_url:
        # A web page without any audio or video.
        ix = await fake.slash(
            "carol", guild, "music", "classify", options={"link": f"{base_url}/_/page"}
        )
        reply = await ephemeral_reply(fake, ix)
        assert "can't get audio" in reply["content"]
        assert_left_nothing_public(fake, ix)

    # Not a link at all.
    ix = await fake.slash("carol", guild, "music", "classify", options={"link": "ftp://x/y.mp3"})
    reply = await ephemeral_reply(fake, ix)
    assert "http" in reply["content"]

    assert await earworm_service.db.count_tracks(guild.id) == 0
    assert [m for m in fake.messages_in("music") if m["author"]["bot"]] == []


async def test_limits_refuse_large_files_and_private_links(fake_discord, running_bot, tmp_path):
    """Settings with a small attachment limit and private links off (the production default),
    and a service built from them as ``earworm run`` builds it."""
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    settings = make_settings(
        fake, tmp_path, max_attachment_bytes=100_000, allow_private_links=False, workers=1
    )
    service = await make_services(settings)
    await running_bot(service, max_attachment_bytes=100_000, allow_private_links=False, workers=1)

    att = fake.register_attachment("vibe_ace.ogg", fixture("vibe_ace.ogg"))  # 380 kB
    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
    reply = await ephemeral_reply(fake, ix)
    assert reply["content"] == "That file is 371 KiB; the limit is 98 KiB."
    assert ix.response["type"] == 4  # refused at once: no defer, no download
    assert not any(r["path"].endswith("vibe_ace.ogg") for r in fake.requests)

    with serve_directory(FIXTURES) as base_url:
        link = f"{base_url}/vibe_ace.ogg"
        ix = await fake.slash("alice", guild, "music", "classify", options={"link": link})
        reply = await ephemeral_reply(fake, ix)
    assert "private" in reply["content"] and "won't fetch" in reply["content"]
    assert_left_nothing_public(fake, ix)
    assert await service.db.count_tracks(guild.id) == 0


# ---------------------------------------------------------------------------- load and failure

TEN_USERS = [f"user{i}" for i in range(10)]


@pytest.mark.parametrize("fake_discord_options", [{"users": TEN_USERS}])
async def test_ten_users_at_once_all_get_answers(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    running = await running_bot(earworm_service)
    names = ["solo_trumpet", "hungarian_dance_5"]
    atts = {n: fake.register_attachment(f"{n}.ogg", fixture(f"{n}.ogg")) for n in names}

    interactions = await asyncio.gather(
        *(
            fake.slash(user, guild, "music", "classify", options={"file": atts[names[i % 2]]})
            for i, user in enumerate(TEN_USERS)
        )
    )
    results = await asyncio.gather(*(result_of(fake, ix, timeout=90) for ix in interactions))
    assert all(ix.response["type"] == 5 and ix.response["at"] < 3.0 for ix in interactions)
    titles = [r["embeds"][0]["title"].replace("\\", "") for r in results]
    assert titles == [names[i % 2] for i in range(10)]
    assert await earworm_service.db.count_tracks(guild.id) == 2
    limiter = running.bot.services.limiter
    assert limiter.admitted == 10 and not limiter.refused and limiter.active == 0


async def test_a_worker_crash_fails_only_that_request(fake_discord, running_bot, earworm_service):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    running = await running_bot(earworm_service)
    pool = earworm_service.engine.pool
    att = fake.register_attachment("sugar_plum_fairy.ogg", fixture("sugar_plum_fairy.ogg"))
    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})

    def busy_worker() -> int | None:
        return next((w.pid for w in pool._workers if w.state == "busy"), None)

    pid = await fake.wait_for(busy_worker, 30, "a busy worker")
    os.kill(pid, signal.SIGKILL)

    reply = await ephemeral_reply(fake, ix)
    assert "crashed" in reply["content"] and "try again" in reply["content"]
    assert_left_nothing_public(fake, ix)
    assert pool.stats().crashes == 1

    # The pool replaces the worker; the next request works.
    att = fake.register_attachment("solo_trumpet.ogg", fixture("solo_trumpet.ogg"))
    ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
    message = await result_of(fake, ix)
    (track,) = await earworm_service.db.list_tracks(guild.id)
    check_result(message, title="solo_trumpet", genre="jazz", track_id=track.id)
    await fake.wait_for(lambda: pool.stats().alive == 2, 30, "the replacement worker")

    # The chart process dying costs nothing either: that chart is drawn in a thread.
    charts = running.bot.get_cog("Classify").charts
    (chart_pid,) = charts._executor._processes
    os.kill(chart_pid, signal.SIGKILL)
    ix = await fake.slash("bob", guild, "music", "classify", options={"file": att})
    message = await result_of(fake, ix)
    check_result(message, title="solo_trumpet", genre="jazz", track_id=track.id)


async def test_per_user_and_global_limits_refuse_with_a_retry_hint(
    fake_discord, running_bot, tmp_path
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    # One worker and one waiting place: two jobs in flight fill the bot up.
    limits = {"workers": 1, "max_queue": 1, "per_user_concurrent_jobs": 2}
    service = await make_services(make_settings(fake, tmp_path, **limits))
    await running_bot(service, **limits)
    with LocalHTTPServer(FIXTURES) as server:
        first = []
        for name in ("vibe_ace.ogg", "hungarian_dance_5.ogg"):  # slow downloads hold the slots
            link = server.url(f"_/slow/{name}", delay="0.15", chunk="65536")
            first.append(
                await fake.slash("alice", guild, "music", "classify", options={"link": link})
            )
        await asyncio.gather(*(fake.wait_for_response(ix) for ix in first))

        # alice has two running: her third is refused, privately, before any defer.
        att = fake.register_attachment("solo_trumpet.ogg", fixture("solo_trumpet.ogg"))
        ix = await fake.slash("alice", guild, "music", "classify", options={"file": att})
        reply = await ephemeral_reply(fake, ix)
        assert ix.response["type"] == 4
        assert re.fullmatch(r"You have 2 analyses running; try again in ~\d+ s\.", reply["content"])

        # carol has none, but the queue is full.
        ix = await fake.slash("carol", guild, "music", "classify", options={"file": att})
        reply = await ephemeral_reply(fake, ix)
        assert ix.response["type"] == 4
        assert re.fullmatch(
            r"I'm busy \(1 job waiting\); try again in ~\d+ s\.", reply["content"]
        ), reply["content"]

        # The admitted jobs finish normally; then there is room again.
        await asyncio.gather(*(result_of(fake, ix) for ix in first))
    limiter = service.limiter
    assert limiter.refused == {"user_concurrent": 1, "busy": 1} and limiter.active == 0
    ix = await fake.slash("carol", guild, "music", "classify", options={"file": att})
    await result_of(fake, ix)


# ---------------------------------------------------------------------------- the embed


def test_embed_escapes_hostile_titles_and_fits_discord_limits():
    analysis = _tiny_analysis()
    title = "@everyone **bold** [link](https://evil.example) <@123456789012345678> " + "x" * 400
    embed = analysis_embed(analysis, title=title, url="file:///etc/passwd")
    data = embed.to_dict()
    assert len(data["title"]) <= 256 and data["title"].endswith("…")
    assert "@\u200beveryone" in data["title"] and "\\*\\*bold\\*\\*" in data["title"]
    assert "\\[link\\]" in data["title"]
    assert "url" not in data  # only http(s) sources become links
    assert data["image"]["url"] == "attachment://genres.png"
    assert safe_text("a\x1b[31mb\nc") == "a \\[31mb c"  # control characters gone, [ escaped
    fields = {f["name"]: f["value"] for f in data["fields"]}
    assert fields["Key"] == "Bb major · relative of G minor · 6B" and fields["Tempo"] == "120 BPM"
    assert fields["Feel"] == "happy 50%"  # tags under 10% are left out
    assert fields["Mood"] == "calm 60% · sad 30%"  # the two strongest quadrants


def test_embed_shows_the_key_as_djs_read_it_and_both_tempo_readings():
    import dataclasses

    analysis = _tiny_analysis()
    d = dataclasses.replace(analysis.descriptors, key="A", mode="minor", tempo_bpm=181.6, tempo_alternative_bpm=90.8)
    fields = {f["name"]: f["value"] for f in analysis_embed(dataclasses.replace(analysis, descriptors=d)).to_dict()["fields"]}
    assert fields["Key"] == "A minor · relative of C major · 8A"
    assert fields["Tempo"] == "182 BPM, or 91 half time"


def _tiny_analysis():
    import numpy as np

    from inference.result import Analysis, Coverage, Descriptors, Segment

    return Analysis(
        model_version="test",
        embedding=np.ones(4, np.float32) / 2,
        genres={"jazz": 0.7, "rock": 0.3},
        timeline=[Segment(0.0, 3.0, {"jazz": 0.7, "rock": 0.3})],
        tags={"mood": {"happy": 0.5, "sad": 0.05}},
        descriptors=Descriptors(120.0, 0.5, "A#", "major", 0.5, -20.0, 1000.0, 3.0),
        coverage=Coverage(3.0, 3.0, 1, False),
        mood={"calm": 0.6, "sad": 0.3, "happy/energetic": 0.07, "tense/angry": 0.03},
    )
