"""Titles and links as Discord renders them (issue 9, item 15).

Every masked link the bot writes, in :mod:`bot.discord.embeds` (analysis cards, likes, "More like this")
and in :mod:`bot.discord.playlist_embeds` (playlists, parties, /catalog add), comes from one helper,
:func:`bot.discord.markdown.masked_link`. These tests feed it hostile titles and awkward URLs through
both modules' public functions and read the result with a model of Discord's markdown parser
(:mod:`tests.fake_discord.markdown`): exactly one link, pointing where it should, showing the
title as written, with nothing in the title turned into formatting, a mention or a second link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

import pytest

from bot.discord import catalog_embeds, embeds, playlist_embeds
from bot.discord.markdown import masked_link, safe_text
from tests.fake_discord.markdown import formatting, links, parse, plain
from tests.fake_discord.seed import track_record

if TYPE_CHECKING:
    from storage.records import TrackRecord

ZWSP = "\u200b"  # what breaks @everyone / @here

# title -> what Discord should show (None: the title itself)
TITLES: dict[str, str | None] = {
    "Artist - Song [Official Video]": None,
    "Song [Live] [HD Remaster]": None,
    "[Official Video] first": None,
    "Nested [a [b] c]": "Nested (a [b] c)",
    "Hit ] [Remix": "Hit ) (Remix",
    "odd ] bracket": "odd ) bracket",
    "odd [ bracket": "odd ( bracket",
    "a > b < c <https://evil.example> <@123456789012345678> <#1234> <t:0:R> <:e:1>": None,
    "pipes | and || spoilers || here": None,
    "`code` and ```block``` and a lone `": None,
    "*bold* _it_ ~~del~~ __u__ ***x*** lone * _ ~": None,
    "@everyone and @here": None,
    "back\\slash \\] \\[ \\* end\\": "back\\slash \\) \\( \\* end\\",
    "[click](https://evil.example) me": None,
    "see https://evil.example/a_b_c now": None,
    "# not a heading": None,
    "-# not subtext": None,
    "> not a quote": None,
    "- not a list": None,
    "Ünïcödé — 日本語 🎵": None,
}

# url -> the URL a browser would open (after percent-decoding)
URLS = [
    "https://example.com/watch?v=abc&list=x#t=3",
    "https://en.wikipedia.org/wiki/Song_(band)",
    "https://example.com/odd)paren(s",
    "https://example.com/a b/c d.mp3",
    'https://example.com/<script>"q"\'s',
    "https://example.com/back\\slash|pipe`tick",
    "https://discord.com/channels/1/2/3",
]


def track(title: str, url: str | None, i: int = 1) -> TrackRecord:
    return track_record(i, title, url)


def shown(title: str) -> str:
    return TITLES[title] or title


def same_text(rendered: str, expected: str) -> bool:
    """``rendered`` is ``expected``, or its beginning cut with an ellipsis (long, escaped titles
    are clipped to the link text's limit)."""
    rendered = rendered.replace(ZWSP, "")
    if rendered.endswith("…") and rendered != expected:
        return expected.startswith(rendered[:-1].rstrip()) and len(rendered) > 20
    return rendered == expected


def assert_one_link(markdown: str, title: str, url: str) -> None:
    """``markdown`` renders as exactly one link to ``url`` showing ``title`` as written."""
    nodes = parse(markdown)
    assert [n.kind for n in nodes] == ["link"], (markdown, nodes)
    (link,) = links(nodes)
    assert unquote(link.target or "") == url, (markdown, link.target)
    assert formatting(link.children) == [], (markdown, formatting(link.children))
    assert same_text(plain(link.children), shown(title)), markdown


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("title", list(TITLES))
def test_masked_links_from_both_modules_render_one_link_with_the_title(title, url):
    assert_one_link(embeds.track_link(title, url, 200), title, url)
    assert_one_link(playlist_embeds.track_link(track(title, url), 1), title, url)
    # Literally one helper: both modules write the same link for the same track.
    assert embeds.track_link(title, url, 90) == playlist_embeds.track_link(track(title, url), 1)


@pytest.mark.parametrize("title", list(TITLES))
def test_titles_without_a_link_render_as_plain_text(title):
    for markdown in (
        embeds.track_link(title, None),
        embeds.track_link(title, "file:///etc/passwd"),
        playlist_embeds.track_link(track(title, "ftp://example.com/x"), 1),
    ):
        nodes = parse(markdown)
        assert links(nodes) == [], markdown
        inner = nodes[0].children if nodes and nodes[0].kind == "strong" else nodes
        assert formatting(inner) == [], markdown
        # Stray brackets stay brackets here: no link text to keep balanced.
        assert same_text(plain(inner), title), markdown


def test_pieces_side_by_side_never_pair_up_into_formatting():
    """A lone ``*`` in one title and one in the next line must not make italics between them
    (discord.py's escape_markdown only escapes characters that pair up within one string)."""
    titles = [
        "one * star",
        "two * star",
        "pipe | one",
        "pipe | two",
        "tick ` one",
        "tick ` two",
        "tilde ~",
        "~ tilde",
        "under _",
        "_ under",
        "open [ bracket",
        "close ] bracket",
    ]
    tracks = [
        track(t, "https://example.com/" + str(i) if i % 3 else None, i)
        for i, t in enumerate(titles, 1)
    ]
    for lo in range(0, len(tracks), 5):
        page = tracks[lo : lo + 5]
        embed = embeds.likes_embed(page, page=0, pages=1, total=len(page), start=lo)
        nodes = parse(embed.description or "")
        assert formatting(nodes) == [], embed.description
        assert len(links(nodes)) == sum(t.source_url is not None for t in page)
        for t in page:  # a lone bracket in link text shows as a parenthesis
            linked = t.title.replace("[", "(").replace("]", ")")
            assert (t.title if t.source_url is None else linked) in plain(nodes)


def test_playlist_and_catalog_embeds_render_hostile_titles_as_one_link_each():
    from bot.service.catalog import ImportSummary
    from bot.service.results import Playlist, Stored
    from inference.recommend import Pick, Recommendation

    items = list(TITLES)
    tracks = {i: track(t, URLS[i % len(URLS)], i) for i, t in enumerate(items, 1)}
    picks = [Pick(i, 0.5, f"close to '{t.title}' you liked", 1, 0) for i, t in tracks.items()]
    messages = playlist_embeds.recommendation_messages(
        Playlist(Recommendation(picks, "A *note*."), tracks), "Ada"
    )
    text = "\n".join(e.description or "" for embeds_ in messages for e in embeds_)
    rendered = [parse(line) for line in text.splitlines() if line.startswith("**")]
    assert len(rendered) == len(tracks)
    for nodes, t in zip(rendered, tracks.values(), strict=True):
        (link,) = links(nodes)
        assert unquote(link.target or "") == t.source_url
        assert same_text(plain(link.children), shown(t.title))
        assert formatting(link.children) == []

    summary = ImportSummary(
        added=[Stored(t, None, True, False) for t in tracks.values()]  # type: ignore[arg-type]
    )
    embed = catalog_embeds.catalog_add_embed(summary, "https://example.com/list?x=(1)")
    for f in embed.fields:
        for line in f.value.splitlines():
            if line.startswith("•"):
                nodes = parse(line)
                assert len(links(nodes)) == 1 and formatting(nodes) == [], line


def test_link_text_and_plain_text_fit_their_limits_escapes_included():
    title = "*_`|~<>[]\\" * 40
    for limit in (1, 10, 90, 200):
        text = safe_text(title, limit)
        assert len(text) <= limit and formatting(parse(text)) == []
        link = masked_link(title, "https://example.com/x", limit)
        assert link is not None and len(link) <= limit + len("[](https://example.com/x)")
        (node,) = parse(link)
        assert node.kind == "link" and formatting(node.children) == []


def test_analysis_embed_links_its_title_to_a_url_with_spaces_and_parentheses():
    from tests.bot.test_e2e_classify import _tiny_analysis

    url = "https://example.com/Song (live) take 2.mp3"
    data = embeds.analysis_embed(_tiny_analysis(), title="Song", url=url).to_dict()
    assert unquote(data["url"]) == url and " " not in data["url"] and "(" not in data["url"]


def test_party_lines_escape_display_names_and_mention_whoever_has_no_name():
    from bot.service.results import PartyResult
    from inference.recommend import MemberReport, PartyPick, PartyPlaylist

    ada, ghost = 111111111111111111, 222222222222222222
    tracks = {1: track("Vibe [Live]", "https://example.com/vibe", 1)}
    pick = PartyPick(1, 0.5, "close to 'Ace' you liked", ada, (ada, ghost), None, 0)
    members = [MemberReport(ada, "ok", 1, 1, 0.9), MemberReport(ghost, "ok", 0, 1, 0.8)]
    names = {ada: "**Ada** @everyone", ghost: None}  # ghost left the server: no name
    (embeds_,) = playlist_embeds.party_playlist_messages(
        PartyResult(PartyPlaylist([pick], members), tracks), names
    )
    text = "\n".join((e.description or "") + "".join(f.value for f in e.fields) for e in embeds_)
    nodes = parse(text)
    assert [n.text for n in formatting(nodes) if n.kind == "tag"] == [f"<@{ghost}>"] * 2
    assert "for **Ada** @everyone · close to 'Ace' you liked" in plain(nodes).replace(ZWSP, "")
    assert not [n for n in formatting(nodes) if n.kind in ("em", "u", "del", "spoiler", "code")]


def test_a_page_of_likes_with_the_longest_titles_and_links_keeps_every_link_whole():
    from tests.fake_discord import validate_message

    title = "[Official Video] *x* " * 30
    tracks = [track(title, f"https://example.com/{i}/" + "x" * 370, i) for i in range(1, 6)]
    tracks.append(track(title, "https://example.com/" + "y" * 2000, 6))  # too long to link
    embed = embeds.likes_embed(tracks, page=0, pages=2, total=6, start=0)
    assert validate_message({"embeds": [embed.to_dict()]}) is None
    nodes = parse(embed.description or "")
    assert len(links(nodes)) == 5 and formatting(nodes) == []
    assert not (embed.description or "").endswith("…")  # nothing cut off the end
