"""Discord embeds for playlists, listening parties and ``/forget`` (``/catalog``: see
:mod:`bot.discord.catalog_embeds`), and the packing helpers they share.

Everything here turns service results into ``discord.Embed`` objects (or plain text) within
Discord's limits: 4096 characters per description, 1024 per field value, 25 fields per embed,
10 embeds and 6000 characters in all per message. A long playlist becomes several embeds, and
several messages when one message cannot hold them (:func:`pack_messages`).

Text that users control (track titles, display names, the liked titles quoted in reasons) is
cleaned of control characters and escaped with :mod:`bot.discord.markdown` (:func:`safe_text`,
:func:`masked_link`), so it can neither format the embed, nor break a link, nor form a mention.
Embeds never ping anyone anyway; the cogs also send them with ``AllowedMentions.none()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from bot.discord.embed_colours import HEART_COLOUR, OTHER_COLOUR
from bot.discord.markdown import clip, masked_link, safe_text
from bot.present.colours import genre_color
from bot.present.format import display_name, format_duration
from bot.present.playlists import party_pick_line

if TYPE_CHECKING:
    from bot.service.results import ForgetReport, PartyRecord, PartyResult, Playlist, TrackRecord
    from inference.recommend import PartyPick

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FIELD_LIMIT = 25
EMBEDS_PER_MESSAGE = 10
MESSAGE_EMBED_CHARS = 6000

TITLE_CHARS = 90  # a track title is cut to this many characters
REASON_CHARS = 220  # a pick's reason line is cut to this many characters
NAME_CHARS = 40  # display names

EMBED_COLOUR = HEART_COLOUR  # as in /help
ENDED_COLOUR = OTHER_COLOUR  # an ended party, an import with failures: grey
PARTY_MEMBERS_SHOWN = 40  # mentions on the party message (~22 characters each)


# ---------------------------------------------------------------------------- text helpers


def track_link(track: TrackRecord | None, track_id: int) -> str:
    """``[Title](link)``, or the bold title when it has no http(s) link."""
    if track is None:
        return f"*track {track_id} was removed*"
    linked = masked_link(track.title, track.source_url, TITLE_CHARS)
    return linked or f"**{safe_text(track.title, TITLE_CHARS)}**"


def track_facts(track: TrackRecord | None) -> str:
    """``"3:25 · jazz"``: the length, then the top genre when there is one."""
    if track is None:
        return ""
    parts = [format_duration(track.duration_s)]
    if track.top_genre:
        parts.append(display_name(track.top_genre))
    return " · ".join(parts)


def pick_block(i: int, track: TrackRecord | None, track_id: int, reason_line: str) -> str:
    """Two lines: the numbered, linked title with its length and genre; the (escaped) reason."""
    facts = track_facts(track)
    head = f"**{i}.** {track_link(track, track_id)}" + (f" · {facts}" if facts else "")
    return f"{head}\n└ {reason_line}" if reason_line else head


def genre_colour(genre: str | None) -> discord.Colour:
    if not genre:
        return EMBED_COLOUR
    return discord.Colour.from_str(genre_color(genre))


def dominant_genre(tracks: Iterable[TrackRecord | None]) -> str | None:
    counts: dict[str, int] = {}
    for t in tracks:
        if t is not None and t.top_genre:
            counts[t.top_genre] = counts.get(t.top_genre, 0) + 1
    return max(counts, key=lambda g: (counts[g], g)) if counts else None


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ---------------------------------------------------------------------------- packing


@dataclass
class Page:
    """What one playlist needs to show, before it is cut into embeds."""

    title: str
    colour: discord.Colour
    intro: str = ""  # above the picks (the note)
    blocks: list[str] = field(default_factory=list)  # one per pick, kept whole
    fields: list[tuple[str, str]] = field(default_factory=list)  # after the picks
    footer: str = ""


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts towards the 6000 per message."""
    n = len(embed.title or "") + len(embed.description or "")
    n += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    n += len(embed.footer.text or "") if embed.footer else 0
    n += len(embed.author.name or "") if embed.author else 0
    return n


def field_chunks(lines: Sequence[str], limit: int = FIELD_VALUE_LIMIT) -> list[str]:
    """Lines joined into values of at most ``limit`` characters (a too-long line is cut)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def build_embeds(page: Page) -> list[discord.Embed]:
    """The page as embeds: descriptions within 4096 characters, blocks never split, the fields
    and footer on the last embed (or an extra one when they would not fit)."""
    title = clip(page.title, 256)
    descriptions: list[str] = []
    current = clip(page.intro.strip(), DESCRIPTION_LIMIT)
    intro_only = bool(current)  # the intro is followed by a blank line
    for block in page.blocks:
        block = clip(block, DESCRIPTION_LIMIT)
        sep = "\n\n" if intro_only else "\n"
        joined = f"{current}{sep}{block}" if current else block
        if len(joined) > DESCRIPTION_LIMIT:
            descriptions.append(current)
            current = block
        else:
            current = joined
        intro_only = False
    if current or not descriptions:
        descriptions.append(current)

    embeds = []
    for i, text in enumerate(descriptions):
        embed = discord.Embed(
            title=title if i == 0 else None, description=text or None, colour=page.colour
        )
        embeds.append(embed)

    # Fields after the picks, spilling into further embeds; room kept for the footer.
    footer = clip(page.footer, 2048)
    last = embeds[-1]
    for name, value in page.fields:
        if not name or not value:
            continue
        name, value = clip(name, 256), clip(value, FIELD_VALUE_LIMIT)
        size = embed_size(last) + len(name) + len(value) + len(footer)
        if size > MESSAGE_EMBED_CHARS or len(last.fields) >= FIELD_LIMIT:
            last = discord.Embed(colour=page.colour)
            embeds.append(last)
        last.add_field(name=name, value=value, inline=False)
    if footer:
        last.set_footer(text=footer)
    return embeds


def pack_messages(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into as few messages as Discord allows (10 and 6000 characters each)."""
    messages: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        n = embed_size(embed)
        if (
            not messages
            or len(messages[-1]) >= EMBEDS_PER_MESSAGE
            or size + n > MESSAGE_EMBED_CHARS
        ):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += n
    return messages


def page_messages(page: Page) -> list[list[discord.Embed]]:
    return pack_messages(build_embeds(page))


# ---------------------------------------------------------------------------- /recommend


def recommendation_messages(playlist: Playlist, who: str) -> list[list[discord.Embed]]:
    """``/recommend``'s answer: the note, then each pick linked with its reason."""
    result = playlist.result
    tracks = [playlist.tracks.get(p.track_id) for p in result.picks]
    blocks = [
        pick_block(i, track, pick.track_id, safe_text(pick.reason, REASON_CHARS, fallback="—"))
        for i, (pick, track) in enumerate(zip(result.picks, tracks, strict=True), 1)
    ]
    n = len(blocks)
    if n:
        title = f"A playlist for {who}: {plural(n, 'track')}"
    else:
        title = f"Nothing to recommend for {who} yet"
    intro = f"*{safe_text(result.note, fallback='')}*" if result.note else ""
    if not blocks and not intro:
        intro = "Nothing new to suggest right now — share more music and try again."
    if result.profile is not None and not result.cold_start:
        likes = len(result.profile.liked_ids)
        interests = len(result.profile.clusters)
        footer = (
            f"From your {plural(likes, 'like')} in this server"
            + (f" ({interests} different interests)" if interests > 1 else "")
            + " · ❤️ more tracks to sharpen it"
        )
    else:
        footer = "React ❤️ to tracks you like and I'll learn your taste."
    page = Page(
        title=title,
        colour=genre_colour(dominant_genre(tracks)),
        intro=intro,
        blocks=blocks,
        footer=footer,
    )
    return page_messages(page)


# ---------------------------------------------------------------------------- parties


def member_labels(names: Mapping[int, str | None], user_ids: Iterable[int]) -> dict[int, str]:
    """How to name each member in party lines: the escaped display name, or a mention for who
    has none (it renders as their name, and embeds never ping)."""
    return {
        uid: safe_text(names.get(uid), NAME_CHARS, fallback="") or f"<@{uid}>" for uid in user_ids
    }


def party_embed(
    party: PartyRecord,
    member_ids: Sequence[int],
    *,
    playlist_command: str = "`/party playlist`",
    ended: bool = False,
) -> discord.Embed:
    """The party message: host, members (as mentions: they render as names and never ping)."""
    host = f"<@{party.host_id}>" if party.host_id else "someone who has since left"
    if ended:
        when = _timestamp(party.ended_at)
        embed = discord.Embed(
            title="🎧 Listening party (ended)",
            description=f"Hosted by {host}. This party is over{when} — thanks for listening!",
            colour=ENDED_COLOUR,
        )
    else:
        embed = discord.Embed(
            title="🎧 Listening party",
            description=(
                f"Hosted by {host}. Press **Join** to add your taste to the mix; then "
                f"{playlist_command} blends everyone's ❤️s into one playlist that's fair to all."
            ),
            colour=EMBED_COLOUR,
        )
    shown = [f"<@{uid}>" for uid in member_ids[:PARTY_MEMBERS_SHOWN]]
    if len(member_ids) > len(shown):
        shown.append(f"…and {len(member_ids) - len(shown)} more")
    embed.add_field(
        name=f"In the party ({len(member_ids)})",
        value="\n".join(shown) or "Nobody yet — press **Join**.",
        inline=False,
    )
    embed.set_footer(text=f"Party #{party.id}")
    return embed


def _timestamp(dt: datetime | None) -> str:
    return f" (<t:{int(dt.timestamp())}:R>)" if dt is not None else ""


def _party_reason(pick: PartyPick, labels: Mapping[int, str]) -> str:
    """Whose turn a pick filled, why, and who else it suits; every piece already escaped."""
    reason = safe_text(pick.reason, REASON_CHARS, fallback="—")
    if pick.for_member is None:  # cold start (nobody has likes): its own "popular in ..." reason
        return reason
    return clip(party_pick_line(replace(pick, reason=reason), labels), REASON_CHARS + 60)


def party_playlist_messages(
    party: PartyResult, names: Mapping[int, str | None]
) -> list[list[discord.Embed]]:
    """``/party playlist``'s answer: each pick with whose taste it serves, then who got what."""
    result = party.result
    ids = [m.user_id for m in result.members]
    for pick in result.picks:
        ids += [u for u in (pick.for_member, *pick.serves) if u is not None]
    labels = member_labels(names, ids)
    tracks = [party.tracks.get(p.track_id) for p in result.picks]
    blocks = [
        pick_block(
            i,
            track,
            pick.track_id,
            _party_reason(pick, labels),
        )
        for i, (pick, track) in enumerate(zip(result.picks, tracks, strict=True), 1)
    ]
    member_lines = []
    for m in result.members:
        who = labels[m.user_id]
        if m.status != "ok":
            member_lines.append(f"**{who}**: {m.status}")
            continue
        sat = f"{m.satisfaction:.2f}" if m.satisfaction is not None else "–"
        member_lines.append(
            f"**{who}**: {plural(m.share, 'pick')} for them · {m.served} close to their taste · "
            f"satisfaction {sat}"
        )
    fields = [
        ("Who gets what" if i == 0 else "\u200b", chunk)
        for i, chunk in enumerate(field_chunks(member_lines))
    ]
    n = len(blocks)
    people = plural(len(result.members), "person", "people")
    title = f"🎶 Party playlist: {plural(n, 'track')} for {people}" if n else "🎶 Party playlist"
    intro = f"*{safe_text(result.note, fallback='')}*" if result.note else ""
    if not blocks and not intro:
        intro = "Nothing to play yet — share some music first."
    page = Page(
        title=title,
        colour=genre_colour(dominant_genre(tracks)),
        intro=intro,
        blocks=blocks,
        fields=fields,
        footer=(
            "Satisfaction: how close the playlist comes to each person's likes (1 = a perfect "
            "match). Whoever is least served so far picks next."
        ),
    )
    return page_messages(page)


# ---------------------------------------------------------------------------- /forget

FORGET_PROMPT = (
    "**Delete everything Earworm stored about you?**\n"
    "This removes, in every server: your ❤️ likes, your listening-party memberships and your "
    "recommendation history. Tracks you shared stay in their servers' catalogs (others may like "
    "them) but are no longer linked to you. This can't be undone."
)


def forget_summary(report: ForgetReport) -> str:
    if report.total == 0:
        return "Done. There was nothing stored about you, so nothing was deleted."
    removed = []
    if report.likes:
        removed.append(plural(report.likes, "like"))
    if report.party_memberships:
        removed.append(plural(report.party_memberships, "party membership"))
    if report.recommendations:
        removed.append(plural(report.recommendations, "recommendation record"))
    lines = ["Done — Earworm has forgotten you."]
    if removed:
        lines.append("Deleted: " + ", ".join(removed) + ".")
    if report.tracks_unlinked:
        lines.append(
            f"{plural(report.tracks_unlinked, 'track')} you shared stay in the catalog, no longer "
            "linked to you."
        )
    if report.parties_unhosted:
        lines.append(
            f"You're no longer named as the host of {plural(report.parties_unhosted, 'party', 'parties')}."
        )
    return "\n".join(lines)
