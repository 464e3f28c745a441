"""Terminal text for playlists and party blends (the CLI's ``recommend`` and ``party``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.present.format import clean_title, format_duration

if TYPE_CHECKING:
    from bot.service.app import PartyResult, Playlist
    from storage.records import TrackRecord


def track_line(i: int, track: TrackRecord | None, track_id: int) -> str:
    if track is None:
        return f"{i:2d}. (track {track_id} was removed)"
    genre = f" [{track.top_genre}]" if track.top_genre else ""
    return f"{i:2d}. {clean_title(track.title)} ({format_duration(track.duration_s)}){genre}"


def playlist_text(playlist: Playlist) -> str:
    result = playlist.result
    lines = [result.note] if result.note else []
    if not result.picks:
        lines.append("No picks.")
    for i, pick in enumerate(result.picks, 1):
        track = playlist.tracks.get(pick.track_id)
        lines.append(track_line(i, track, pick.track_id))
        lines.append(f"    {pick.reason}")
        if track and track.source_url:
            lines.append(f"    {track.source_url}")
    return "\n".join(lines)


def party_text(party: PartyResult, names: dict[int, str] | None = None) -> str:
    result = party.result
    name = (names or {}).get
    lines = [result.note] if result.note else []
    lines.append("Who gets what:")
    for m in result.members:
        who = name(m.user_id) or f"user {m.user_id}"
        if m.status != "ok":
            lines.append(f"  {who}: {m.status}")
            continue
        sat = f"{m.satisfaction:.2f}" if m.satisfaction is not None else "-"
        picks = "pick" if m.share == 1 else "picks"
        lines.append(f"  {who}: {m.share} {picks} for them, {m.served} close to their taste, satisfaction {sat}")
    lines.append("")
    for i, pick in enumerate(result.picks, 1):
        lines.append(track_line(i, party.tracks.get(pick.track_id), pick.track_id))
        lines.append(f"    {party_pick_line(pick, names or {})}")
    return "\n".join(lines)


def party_pick_line(pick, names: dict[int, str]) -> str:
    """'for Ada · close to ... · also suits Cy': whose turn it filled, why, and who else it suits."""
    def who(u: int) -> str:
        return names.get(u) or f"user {u}"

    head = f"for {who(pick.for_member)}" if pick.for_member is not None else "popular in this server"
    also = [who(u) for u in pick.serves if u != pick.for_member]
    tail = f" · also suits {', '.join(also)}" if also else ""
    return f"{head} · {pick.reason}{tail}"
