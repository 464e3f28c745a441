"""``/recommend`` end to end: the real bot against the fake Discord, a real service (SQLite file,
analysis workers) and the fixture tracks as the server's catalog."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tests.fake_discord import FakeDiscord
from tests.fake_discord.markdown import links, parse, plain
from tests.fake_discord.seed import seed_catalog, source_url, track_record

PICK_HEAD = re.compile(r"^\*\*\d+\.\*\* ")


def picks_of(message: dict[str, Any]) -> list[dict[str, str]]:
    """The picks of a playlist message as Discord renders them: the linked title (as shown),
    its url, the facts after it and the reason line below."""
    text = "\n".join(e.get("description") or "" for e in message["embeds"])
    lines = text.splitlines()
    picks = []
    for i, line in enumerate(lines):
        if PICK_HEAD.match(line):
            nodes = parse(line)
            (link,) = links(nodes)  # exactly one link per pick, whatever its title holds
            facts = plain(nodes[nodes.index(link) + 1 :])
            reason = lines[i + 1] if i + 1 < len(lines) else ""
            assert reason.startswith("└ "), f"no reason under {line!r}"
            picks.append(
                {"title": plain(link.children), "url": link.target, "facts": facts}
                | {"reason": plain(parse(reason[2:]))}
            )
    return picks


def db_rows(service: Any, sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(service.db.path) as conn:
        return conn.execute(sql, params).fetchall()


async def test_recommend_links_reasons_cold_start_and_no_repeats(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice, bob = fake.user("alice"), fake.user("bob")
    tracks = await seed_catalog(earworm_service, guild.id)
    liked = {tracks["vibe_ace"].id, tracks["hungarian_dance_5"].id}
    for track_id in liked:
        await earworm_service.like(guild.id, alice.id, track_id)
    await running_bot(earworm_service)

    # -- a playlist from jazz + classical likes: one pick per interest, linked, with reasons
    ix = await fake.slash(alice, guild, "music", "recommend", options={"count": 2})
    response = await fake.wait_for_response(ix)
    assert response["type"] == 5 and response["at"] < 3.0  # deferred at once
    msg = await fake.wait_for_original(ix, timeout=20)
    assert msg["ephemeral"] and msg["allowed_mentions"] == {"parse": []}
    assert fake.messages_in("music") == []  # private unless shared
    embed = msg["embeds"][0]
    assert embed["title"] == "A playlist for Alice: 2 tracks"
    assert "From your 2 likes" in msg["embeds"][-1]["footer"]["text"]
    first = picks_of(msg)
    by_url = {t.source_url: name for name, t in tracks.items()}
    first_names = [by_url[p["url"]] for p in first]
    assert len(first_names) == 2 and not {"vibe_ace", "hungarian_dance_5"} & set(first_names)
    for p in first:  # each pick: a real catalog track, its link, its length and a reason
        track = tracks[by_url[p["url"]]]
        assert p["title"] == track.title
        assert "close to '" in p["reason"] and "you liked" in p["reason"]
        assert track.top_genre in p["facts"]
    # The other classical track is picked for the classical interest, and says so.
    reasons = {by_url[p["url"]]: p["reason"] for p in first}
    assert "sugar_plum_fairy" in reasons
    assert "Hungarian Dance No. 5" in reasons["sugar_plum_fairy"]
    assert "both classical" in reasons["sugar_plum_fairy"]
    titles = {t.title: name for name, t in tracks.items()}
    for name, reason in reasons.items():  # a shared genre is named exactly when it is shared
        closest = titles[re.search(r"close to '(.+?)' you liked", reason).group(1)]
        genre = tracks[name].top_genre
        assert closest in {"vibe_ace", "hungarian_dance_5"}
        assert (f"both {genre}" in reason) == (genre == tracks[closest].top_genre), reason

    # Recorded: the database knows what alice was recommended.
    recorded = db_rows(
        earworm_service, "SELECT track_id FROM recommendations WHERE user_id = ?", alice.id
    )
    assert sorted(r[0] for r in recorded) == sorted(tracks[n].id for n in first_names)

    # -- a second /recommend brings what's left, not the same tracks again
    ix = await fake.slash(alice, guild, "music", "recommend", options={"count": 2})
    msg = await fake.wait_for_original(ix, timeout=20)
    second_names = [by_url[p["url"]] for p in picks_of(msg)]
    remaining = set(tracks) - {"vibe_ace", "hungarian_dance_5"} - set(first_names)
    assert set(second_names) == remaining  # the one track not yet recommended
    assert "Only 1 new track" in msg["embeds"][0]["description"]

    # -- cold start: no likes -> the helpful note and popular / varied picks, still linked
    ix = await fake.slash(bob, guild, "general", "recommend")
    msg = await fake.wait_for_original(ix, timeout=20)
    description = msg["embeds"][0]["description"]
    assert "You haven't liked anything yet" in description and "react ❤️" in description
    assert "Meanwhile, popular in this server" in description
    cold = picks_of(msg)
    assert {p["url"] for p in cold} == {source_url(n) for n in tracks}  # 5 of 10 asked: all
    assert any(p["reason"].startswith("popular in this server") for p in cold)
    assert "React ❤️" in msg["embeds"][-1]["footer"]["text"]


async def test_recommend_can_be_shared_and_titles_are_escaped(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    carol = fake.user("carol")
    tracks = await seed_catalog(earworm_service, guild.id, ["solo_trumpet", "vibe_ace"])
    # A hostile title: markdown, a fake link and a mass mention.
    with sqlite3.connect(earworm_service.db.path) as conn:
        conn.execute(
            "UPDATE tracks SET title = ? WHERE id = ?",
            ("**Loud** [click](https://evil.example) @everyone", tracks["vibe_ace"].id),
        )
    await earworm_service.like(guild.id, carol.id, tracks["solo_trumpet"].id)
    await running_bot(earworm_service)

    ix = await fake.slash(carol, guild, "music", "recommend", options={"share": True})
    msg = await fake.wait_for_original(ix, timeout=20)
    assert not msg["ephemeral"] and msg in fake.messages_in("music")
    assert msg["allowed_mentions"] == {"parse": []}
    description = msg["embeds"][0]["description"]
    assert "\\*\\*Loud\\*\\*" in description
    assert "@everyone" not in description  # broken up with a zero-width space
    # Rendered: one link to the track, its title shown as written (the fake link is text).
    (pick,) = picks_of(msg)
    assert pick["url"] == source_url("vibe_ace")
    assert pick["title"] == "**Loud** [click](https://evil.example) @\u200beveryone"


async def test_recommend_command_schema(fake_discord, running_bot):
    fake: FakeDiscord = fake_discord
    await running_bot()
    (cmd,) = [c for c in fake.commands() if c["name"] == "recommend"]
    options = {o["name"]: o for o in cmd["options"]}
    assert options["count"]["type"] == 4 and not options["count"].get("required")
    assert options["count"]["min_value"] == 1 and options["count"]["max_value"] == 25
    assert options["count"]["description"].startswith("How many tracks")
    assert options["share"]["type"] == 5
    assert cmd["contexts"] == [0]  # servers only: a catalog belongs to a server


def test_a_long_playlist_is_split_within_discords_limits():
    """25 picks with long titles, links and reasons: several embeds (and messages if need be),
    none over Discord's limits, every pick kept whole and in order."""
    from bot.discord.playlist_embeds import DESCRIPTION_LIMIT, embed_size, recommendation_messages
    from bot.service.results import Playlist
    from inference.recommend import Pick, Recommendation

    def track(i: int) -> Any:
        title = f"Track {i} " + "with a very *long* title " * 8
        return track_record(i, title, f"https://example.com/{i}/" + "x" * 250)

    tracks = {i: track(i) for i in range(1, 26)}
    picks = [Pick(i, 0.5, "close to 'x' you liked (0.50) · " + "r" * 400, 1, 0) for i in tracks]
    playlist = Playlist(Recommendation(picks, "A note."), tracks)
    messages = recommendation_messages(playlist, "Alice")
    assert len(messages) >= 2
    numbers = []
    for embeds in messages:
        assert 1 <= len(embeds) <= 10 and sum(embed_size(e) for e in embeds) <= 6000
        for e in embeds:
            assert len(e.description or "") <= DESCRIPTION_LIMIT and len(e.fields) <= 25
            numbers += [int(n) for n in re.findall(r"^\*\*(\d+)\.\*\* ", e.description or "", re.M)]
    assert numbers == list(range(1, 26))
    assert messages[0][0].title == "A playlist for Alice: 25 tracks"
    assert messages[-1][-1].footer.text.startswith("React ❤️")
