"""Discord embeds and lines for ``/catalog``: the stats card, the import summary, progress.

The import summary of ``/catalog add`` must fit one message whatever the playlist: up to
``EARWORM_MAX_PLAYLIST_ITEMS`` (1000) tracks with titles and links chosen by strangers, and as
many failures. It lists what fits within Discord's limits (6000 characters per message, 1024 per
field) and counts the rest ("…and 37 more"): :func:`catalog_add_embed` shares the message's
characters fairly between "Added", "Already in the catalog" and "Couldn't add" (a short list is
shown in full and leaves the rest to the longer ones), and identical failures are one line with
a count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import discord

from bot.discord.markdown import link_target, safe_text
from bot.discord.playlist_embeds import (
    EMBED_COLOUR,
    ENDED_COLOUR,
    FIELD_LIMIT,
    FIELD_VALUE_LIMIT,
    MESSAGE_EMBED_CHARS,
    dominant_genre,
    embed_size,
    genre_colour,
    plural,
    track_facts,
    track_link,
)
from bot.present.format import display_name, format_duration, format_share

if TYPE_CHECKING:
    from bot.service.catalog import ImportSummary
    from bot.service.results import CatalogStats, ProgressEvent, Stored
    from inference.errors import EarwormError

STATS_GENRES = 8  # genres named in /catalog stats
SOURCE_URL_CHARS = 300  # the imported link, shown (unlinked) in the summary and the progress
FAILURE_CHARS = 200  # one failure reason
MORE_FIELD_NAME = "\u200b"  # continuation fields: Discord needs a non-empty name


# ---------------------------------------------------------------------------- /catalog stats


def catalog_stats_embed(stats: CatalogStats, guild_name: str | None = None) -> discord.Embed:
    where = safe_text(guild_name, 100, fallback="this server") if guild_name else "this server"
    top = next(iter(stats.genre_mix), None)
    embed = discord.Embed(title=f"The catalog of {where}", colour=genre_colour(top))
    if stats.track_count == 0:
        embed.description = (
            "The catalog is empty — share an audio file or a link, or ask someone with Manage "
            "Server to use `/catalog add`."
        )
        return embed
    tracks = plural(stats.track_count, "track")
    if stats.music_track_count != stats.track_count:
        tracks += f" ({stats.music_track_count} music)"
    embed.add_field(name="Tracks", value=tracks, inline=True)
    embed.add_field(name="Total length", value=format_duration(stats.total_duration_s), inline=True)
    embed.add_field(name="Contributors", value=str(stats.contributor_count), inline=True)
    embed.add_field(name="❤️ Likes", value=str(stats.like_count), inline=True)
    mix = list(stats.genre_mix.items())
    if mix:
        shown = [(g, share) for g, share in mix[:STATS_GENRES] if share >= 0.01] or mix[:1]
        rest = max(0.0, 1.0 - sum(v for _, v in shown))
        lines = [f"{_bar(share)} **{display_name(g)}** {format_share(share)}" for g, share in shown]
        if rest >= 0.005:
            lines.append(f"{_bar(rest)} other {format_share(rest)}")
        embed.add_field(name="Genre mix", value="\n".join(lines), inline=False)
    return embed


def _bar(share: float, width: int = 10) -> str:
    full = int(round(max(0.0, min(1.0, share)) * width))
    return "`" + "█" * full + "░" * (width - full) + "`"


# ---------------------------------------------------------------------------- /catalog add


def source_text(url: str) -> str:
    """The imported link as shown in text: ``<https://...>`` (no preview), or escaped text when
    it can't be a link."""
    target = link_target(url, SOURCE_URL_CHARS)
    return f"<{target}>" if target else safe_text(url, SOURCE_URL_CHARS, fallback="the link")


def catalog_add_embed(
    summary: ImportSummary, url: str, *, item_limit: int | None = None
) -> discord.Embed:
    """The summary of ``/catalog add``: what was added, what was already there, what failed,
    within one message's limits whatever the numbers (see the module docstring).
    ``item_limit``: the playlist bound; when the import reached it, the footer says so."""
    n_added, n_already, n_failed = len(summary.added), len(summary.already), len(summary.failed)
    if n_added:
        title = f"Added {plural(n_added, 'track')} to the catalog"
    elif n_already and not n_failed:
        title = "Already in the catalog"
    else:
        title = "Nothing was added"
    embed = discord.Embed(
        title=title,
        description=f"Added {n_added}, already there {n_already}, failed {n_failed}.\n"
        f"From {source_text(url)}",
        colour=genre_colour(dominant_genre(s.track for s in summary.added))
        if n_added
        else (EMBED_COLOUR if not n_failed else ENDED_COLOUR),
    )
    footer = ""
    if item_limit is not None and summary.total >= item_limit:
        footer = f"Playlists are read up to {plural(item_limit, 'track')}."
        embed.set_footer(text=footer)

    sections = [
        (name, lines)
        for name, lines in (
            ("Added", _stored_lines(summary.added)),
            ("Already in the catalog", _stored_lines(summary.already)),
            ("Couldn't add", _failure_lines(summary.failed)),
        )
        if lines
    ]
    budget = MESSAGE_EMBED_CHARS - embed_size(embed)
    needs = [_size(summarised_fields(name, lines)) for name, lines in sections]
    for (name, lines), share in zip(sections, _share_out(needs, budget), strict=True):
        for field_name, value in summarised_fields(name, lines, share, max_fields=FIELD_LIMIT // 3):
            embed.add_field(name=field_name, value=value, inline=False)
    return embed


def _stored_lines(items: Sequence[Stored]) -> list[tuple[str, int]]:
    return [(f"• {track_link(s.track, s.track.id)} · {track_facts(s.track)}", 1) for s in items]


def _failure_lines(errors: Sequence[EarwormError]) -> list[tuple[str, int]]:
    """One line per distinct reason, the most frequent first, with how many tracks it hit."""
    reasons = Counter(safe_text(str(e), FAILURE_CHARS, fallback=e.code) for e in errors)
    return [
        (f"• {reason}" + (f" ({plural(n, 'track')})" if n > 1 else ""), n)
        for reason, n in reasons.most_common()
    ]


def summarised_fields(
    name: str,
    lines: Sequence[tuple[str, int]],
    budget: int | None = None,
    *,
    max_fields: int = FIELD_LIMIT,
) -> list[tuple[str, str]]:
    """``(field name, value)`` pairs holding as many of ``lines`` as fit in ``budget``
    characters (names and values counted as Discord counts them), in order, and then
    "…and N more" for the rest (N: the summed weights of the lines left out). The first field
    is called ``name``, the next ones have a blank name."""
    budget = budget if budget is not None else 1 << 30
    total = sum(weight for _, weight in lines)
    more_room = len(f"\n…and {total} more")  # kept free until the last line is in
    fields: list[list[str]] = []  # the lines of each field
    size = 0  # characters used: names and values
    value_len = 0  # the length of the last field's value
    shown = 0  # summed weights of the lines shown
    for i, (line, weight) in enumerate(lines):
        line = line if len(line) <= FIELD_VALUE_LIMIT - more_room else line[:100] + "…"
        room = 0 if i == len(lines) - 1 else more_room
        if fields and value_len + 1 + len(line) + room <= FIELD_VALUE_LIMIT:
            cost, new_field = 1 + len(line), False
        else:
            cost, new_field = len(name if not fields else MORE_FIELD_NAME) + len(line), True
        if size + cost + room > budget or (new_field and len(fields) >= max_fields):
            break
        if new_field:
            fields.append([line])
            value_len = len(line)
        else:
            fields[-1].append(line)
            value_len += 1 + len(line)
        size += cost
        shown += weight
    if shown < total:
        more = f"…and {total - shown} more"
        if fields:
            fields[-1].append(more)
        elif len(name) + len(more) <= budget:
            fields.append([more])
    return [(name if i == 0 else MORE_FIELD_NAME, "\n".join(f)) for i, f in enumerate(fields) if f]


def _size(fields: Iterable[tuple[str, str]]) -> int:
    return sum(len(n) + len(v) for n, v in fields)


def _share_out(needs: Sequence[int], budget: int) -> list[int]:
    """``budget`` split between sections that need ``needs`` characters: the smaller needs are
    met in full, and the others share what is left equally."""
    shares = [0] * len(needs)
    left = max(0, budget)
    order = sorted(range(len(needs)), key=needs.__getitem__)
    for k, i in enumerate(order):
        shares[i] = min(needs[i], left // (len(needs) - k))
        left -= shares[i]
    return shares


# ---------------------------------------------------------------------------- progress


def progress_text(event: ProgressEvent | None, url: str) -> str:
    """One line of ``/catalog add`` progress."""
    if event is None or event.stage == "resolving":
        return f"⏳ Fetching {source_text(url)}…"
    if event.stage == "downloading":
        items, item = event.items or 1, event.item or 1
        pct = f" ({round(event.fraction * 100)}%)" if event.fraction is not None else ""
        which = f" track {item} of {items}" if items > 1 else ""
        return f"⬇️ Downloading{which}…{pct}"
    if event.stage == "checking":
        return "🔎 Checking the downloads…"
    what = plural(event.items, "track") if event.items else "the audio"
    return f"🎧 Listening to {what} (this takes a few seconds per track)…"


def moved_to_channel_text() -> str:
    """The last edit of the private reply before Discord's interaction token runs out."""
    return (
        "⏳ Still importing: this is taking longer than Discord lets me keep this reply, so "
        "I'll post the summary in this channel when it's done."
    )


def finished_in_channel_text(user_id: int, url: str) -> str:
    """Above the summary (or the error) posted in the channel after a long import."""
    return f"<@{user_id}>, your import of {source_text(url)} has finished."
