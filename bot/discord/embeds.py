"""Discord embeds for analyses and track lists.

- :func:`analysis_embed`: what a track sounds like (genre bars, mood, tags, tempo, key, length), with
  the genre timeline picture as ``attachment://genres.png``;
- :func:`not_music_embed`: the short "this doesn't sound like music" card;
- :func:`similar_embed`: "More like this" (nearest tracks with links);
- :func:`likes_embed`: one page of someone's likes.

Everything a user can name (titles, links) goes through :mod:`bot.discord.markdown` (:func:`safe_text`,
:func:`masked_link`): markdown and mentions escaped, control characters removed, clipped to
Discord's limits. The bot also sends with ``AllowedMentions.none()``, so nothing here can ever
ping anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.discord.embed_colours import HEART_COLOUR, OTHER_COLOUR
from bot.discord.markdown import clip, link_target, masked_link, safe_text
from bot.discord.playlist_embeds import genre_colour, track_facts
from bot.present.colours import OTHER_LABEL
from bot.present.format import (
    TAG_GROUPS,
    TAG_MAX,
    TAG_MIN,
    bar,
    coverage_text,
    display_name,
    format_duration,
    format_key,
    format_mood,
    format_share,
    format_tempo,
    genre_shares,
    top_items,
)
from bot.service.errors import not_music_message

if TYPE_CHECKING:
    from bot.service.results import TrackRecord
    from inference.result import Analysis

__all__ = [
    "CHART_FILENAME",
    "analysis_embed",
    "clip",
    "likes_embed",
    "not_music_embed",
    "safe_text",
    "similar_embed",
    "track_link",
]

#: The file name of the genre timeline attached next to an analysis embed.
CHART_FILENAME = "genres.png"

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048

BAR_WIDTH = 12  # characters in a genre bar
BAR_GENRES = 5  # genres shown as bars (the rest is summed as "other")


def track_link(title: str, url: str | None, limit: int = 200) -> str:
    """``[Title](url)`` when the source is a web link (a jump link, a page), else the title."""
    return masked_link(title, url, limit) or safe_text(title, limit)


def _bar(share: float, width: int = BAR_WIDTH) -> str:
    return bar(share, width).ljust(width)


def genre_lines(analysis: Analysis, n: int = BAR_GENRES) -> list[str]:
    """``"`████████▌   ` **jazz** 80%"`` per leading genre, then the rest as "other"."""
    lines = []
    for g, share in genre_shares(analysis, max_genres=n):
        name = OTHER_LABEL if g == OTHER_LABEL else f"**{display_name(g)}**"  # "other": not bold
        lines.append(f"`{_bar(share)}` {name} {format_share(share)}")
    return lines


def _colour(analysis: Analysis) -> discord.Colour:
    top = analysis.top_genre
    return genre_colour(top) if top else OTHER_COLOUR


def _footer(model_version: str, track_id: int | None) -> str:
    parts = ["Earworm", f"model {model_version or 'unknown'}"]
    if track_id is not None:
        parts.append(f"track #{track_id}")
    return clip(" · ".join(parts), FOOTER_MAX)


def analysis_embed(
    analysis: Analysis,
    *,
    title: str | None = None,
    url: str | None = None,
    track_id: int | None = None,
    chart: bool = True,
    note: str | None = None,
) -> discord.Embed:
    """The result card for a music analysis.

    ``title`` defaults to ``analysis.title``; ``url`` (the source: a link, or the message the
    file was shared in) becomes the title's link when it is http(s); ``chart`` points the image
    at ``attachment://genres.png`` (send the PNG with that file name); ``note`` is a short line
    under the bars (e.g. "Already in this server's catalog").
    """
    if not analysis.is_music:
        return not_music_embed(analysis, title=title, url=url)
    embed = discord.Embed(
        title=safe_text(title if title is not None else analysis.title, TITLE_MAX),
        url=link_target(url),
        colour=_colour(analysis),
    )
    lines = genre_lines(analysis) or ["no genres"]
    if note:
        lines += ["", safe_text(note, 300)]
    embed.description = clip("\n".join(lines), DESCRIPTION_MAX)

    d = analysis.descriptors
    embed.add_field(name="Tempo", value=format_tempo(d), inline=True)
    embed.add_field(name="Key", value=format_key(d), inline=True)
    length = format_duration(d.duration_s or analysis.coverage.duration_s)
    if analysis.coverage.sampled:
        length += f" ({coverage_text(analysis)})"
    embed.add_field(name="Length", value=clip(length, FIELD_VALUE_MAX), inline=True)
    if analysis.mood:
        embed.add_field(name="Mood", value=clip(format_mood(analysis), FIELD_VALUE_MAX), inline=True)
    for group, label in TAG_GROUPS:
        shown = top_items(analysis.tags.get(group, {}), TAG_MAX, TAG_MIN)
        if shown:
            value = ", ".join(f"{safe_text(tag, 60)} {format_share(p)}" for tag, p in shown)
            embed.add_field(name=label, value=clip(value, FIELD_VALUE_MAX), inline=True)
    if chart:
        embed.set_image(url=f"attachment://{CHART_FILENAME}")
    embed.set_footer(text=_footer(analysis.model_version, track_id))
    return embed


def not_music_embed(
    analysis: Analysis, *, title: str | None = None, url: str | None = None
) -> discord.Embed:
    """The "not music" card: why, the confidence, and that it was not added to the catalog."""
    embed = discord.Embed(
        title=safe_text(title if title is not None else analysis.title, TITLE_MAX),
        url=link_target(url),
        colour=OTHER_COLOUR,
        description=(
            f"{not_music_message(analysis.not_music_reason)} I didn't add it to this server's "
            f"catalog.\nMusic confidence: {analysis.music_confidence:.2f}"
        ),
    )
    embed.set_footer(text=_footer(analysis.model_version, None))
    return embed


def similar_embed(
    title: str, hits: Sequence[tuple[TrackRecord, float]], *, colour: discord.Colour | None = None
) -> discord.Embed:
    """The "More like this" list: the nearest tracks, each with its link, top genre and similarity."""
    embed = discord.Embed(
        title=clip(f"More like {safe_text(title, 200)}", TITLE_MAX),
        colour=colour or OTHER_COLOUR,
    )
    if not hits:
        embed.description = (
            "Nothing else in this server's catalog yet. Share more music, or add some with "
            "/catalog add."
        )
        return embed
    lines = []
    for i, (track, score) in enumerate(hits, 1):
        lines.append(
            f"{i}. {track_link(track.title, track.source_url)} "
            f"({track_facts(track)} · {round(max(0.0, score) * 100)}% alike)"
        )
    embed.description = clip("\n".join(lines), DESCRIPTION_MAX)
    return embed


def likes_embed(
    tracks: Sequence[TrackRecord], *, page: int, pages: int, total: int, start: int
) -> discord.Embed:
    """One page of a user's likes, numbered from ``start + 1``."""
    embed = discord.Embed(title="Your ❤️ likes", colour=HEART_COLOUR)
    if not tracks:
        embed.description = (
            "No likes yet. React ❤️ to a message with music, or press ❤️ Like under an analysis."
        )
        return embed
    lines = []
    for i, track in enumerate(tracks, start + 1):
        lines.append(f"{i}. {track_link(track.title, track.source_url)} ({track_facts(track)})")
    embed.description = clip("\n".join(lines), DESCRIPTION_MAX)
    embed.set_footer(text=f"Page {page + 1} of {pages} · {total} liked")
    return embed
