"""Work already under way is shared: ten ❤️s on one new upload cost one download and one analysis
(the real bot, the fake Discord's CDN counting requests, real workers counting jobs); the same
link fetched by several at once is downloaded once (a local HTTP server counting requests); a
failure reaches every waiter and a waiter who gives up does not stop the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli.run import make_services
from bot.service.errors import NotMusicError
from tests.bot.test_e2e_likes import HEART, eventually, fixture
from tests.fake_discord import FakeDiscord
from tests.fake_discord.harness import make_settings
from tests.httpserver import LocalHTTPServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FANS = [f"fan{i}" for i in range(10)]


def analyses_run(service) -> int:
    """Analysis jobs the workers finished (successes and refusals alike)."""
    stats = service.engine.pool.stats()
    return stats.completed + stats.failed


@pytest.mark.parametrize("fake_discord_options", [{"users": ["poster", *FANS]}])
async def test_ten_hearts_on_one_new_upload_download_and_analyze_it_once(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    db = earworm_service.db
    await running_bot(earworm_service)
    posted = await fake.post_user_message(
        "poster", "music", "my new demo", attachments=[("demo.ogg", fixture("vibe_ace.ogg"))]
    )
    before = analyses_run(earworm_service)

    await asyncio.gather(*(fake.react(name, posted, HEART) for name in FANS))

    fans = [fake.user(name).id for name in FANS]

    async def all_liked() -> bool:
        likes = [await db.list_likes(guild.id, uid) for uid in fans]
        return all(len(found) == 1 for found in likes)

    await eventually(fake, all_liked, "ten likes", timeout=60)
    (track,) = await db.list_tracks(guild.id)
    for uid in fans:
        assert [t.id for t in await db.list_likes(guild.id, uid)] == [track.id]
    downloads = [r for r in fake.requests if r["path"].endswith("/demo.ogg")]
    assert len(downloads) == 1, downloads
    assert analyses_run(earworm_service) - before == 1
    assert fake.reactions_on(posted).get("⚠️", []) == []  # nobody was refused


@pytest.mark.parametrize("fake_discord_options", [{"users": ["poster", *FANS]}])
async def test_hearts_that_join_work_under_way_take_no_admission_slot(
    fake_discord, running_bot, tmp_path
):
    """With room for two jobs in all (one running, one waiting), ten ❤️s on one new upload still
    all count: the first starts the work (one slot), the other nine join it and are not refused
    "busy" (without coalescing, eight of them would be)."""
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    limits = {"workers": 1, "max_queue": 1, "per_user_concurrent_jobs": 1}
    service = await make_services(make_settings(fake, tmp_path, **limits))
    await running_bot(service, **limits)
    posted = await fake.post_user_message(
        "poster", "music", "my new demo", attachments=[("demo.ogg", fixture("solo_trumpet.ogg"))]
    )
    await asyncio.gather(*(fake.react(name, posted, HEART) for name in FANS))
    fans = [fake.user(name).id for name in FANS]

    async def all_liked() -> bool:
        return all([await service.db.list_likes(guild.id, uid) for uid in fans])

    await eventually(fake, all_liked, "ten likes", timeout=60)
    assert fake.reactions_on(posted).get("⚠️", []) == []  # nobody was refused
    assert service.limiter.admitted == 1 and not service.limiter.refused
    # A ❤️ on the track now in the catalog takes no slot either.
    await fake.react("poster", posted, HEART)
    poster = fake.user("poster").id
    await eventually(fake, lambda: service.db.list_likes(guild.id, poster), "the poster's like")
    assert service.limiter.admitted == 1


async def test_one_fetch_and_analysis_serve_every_waiter(earworm_service):
    service = earworm_service
    reads = 0
    release = asyncio.Event()
    data = fixture("solo_trumpet.ogg")

    async def slow_read() -> bytes:  # an attachment download that takes a moment
        nonlocal reads
        reads += 1
        await release.wait()
        return data

    before = analyses_run(service)
    calls = [
        asyncio.create_task(
            service.add_attachment(
                guild,
                "https://cdn.example/a/solo.ogg",
                slow_read,
                title="solo",
                source_url=f"https://discord.com/channels/{guild}/1/2",
                added_by=guild,
            )
        )
        for guild in (1, 2, 3)
    ]
    await asyncio.sleep(0.2)
    calls[0].cancel()  # the one who started it gives up: the others still get their track
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await calls[0]
    stored = [await c for c in calls[1:]]
    assert reads == 1 and analyses_run(service) - before == 1
    assert {s.track.guild_id for s in stored} == {2, 3}
    assert len({s.track.content_hash for s in stored}) == 1

    # A failure reaches every waiter: speech is refused for each of them, analyzed once.
    speech = fixture("not_music_speech.ogg")

    async def read_speech() -> bytes:
        await asyncio.sleep(0.1)
        return speech

    before = analyses_run(service)
    results = await asyncio.gather(
        *(
            service.add_attachment(
                g,
                "https://cdn.example/a/talk.ogg",
                read_speech,
                title="talk",
                source_url=None,
                added_by=None,
            )
            for g in (1, 2, 3, 4)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, NotMusicError) for r in results), results
    assert analyses_run(service) - before == 1
    assert await service.db.count_tracks(1) == 0


async def test_one_link_asked_for_at_once_is_downloaded_once(earworm_service):
    service = earworm_service
    with LocalHTTPServer(FIXTURES) as server:
        # How many requests one download of a link takes (yt-dlp may probe first).
        await service.add_link(9, server.url("hungarian_dance_5.ogg"), None)
        per_download = len(server.requests)
        assert per_download >= 1

        url = server.url("lets_go_fishin.ogg")
        before = analyses_run(service)
        results = await asyncio.gather(*(service.add_link(g, url, g) for g in (1, 2, 3, 4, 5)))
        asked = [r for r in server.requests if r.path.endswith("/lets_go_fishin.ogg")]
    assert len(asked) == per_download, asked
    assert analyses_run(service) - before == 1
    tracks = [r[0].track for r in results]
    assert [t.guild_id for t in tracks] == [1, 2, 3, 4, 5] and all(
        t.source_url == url for t in tracks
    )
