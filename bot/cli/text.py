"""Terminal text: what ``earworm analyze`` prints for an analysis (optionally in ANSI colour:
genres with bars, a timeline strip, tags, tempo, key, loudness, brightness, timings) and the
CLI's playlists and party blends.

The formatting it shares with the Discord embeds comes from :mod:`bot.present`.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from functools import lru_cache
from itertools import groupby
from typing import TYPE_CHECKING

from bot.present.colours import (
    OTHER_LABEL,
    SILENCE_LABEL,
    genre_color,
    relative_luminance,
    rgb,
)
from bot.present.format import (
    TAG_GROUPS,
    TAG_MAX,
    TAG_MIN,
    bar,
    chart_genres,
    clean_title,
    coverage_text,
    display_name,
    format_duration,
    format_key,
    format_mood,
    format_ms,
    format_share,
    format_tempo,
    genre_shares,
    segment_runs,
    top_items,
)
from bot.present.playlists import party_pick_line
from bot.service.errors import not_music_message

if TYPE_CHECKING:
    from bot.service.results import PartyResult, Playlist, TrackRecord
    from inference.result import Analysis, Segment

_LABEL_W = 13

class _Style:
    """ANSI escapes, or nothing when colour is off."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    label = bold

    def fg(self, hex_color: str, text: str) -> str:
        return self._wrap(f"38;5;{_ansi256(hex_color)}", text)

    def chip(self, hex_color: str, text: str) -> str:
        """Text on a coloured background, black or white for contrast."""
        ink = "30" if relative_luminance(hex_color) > 0.18 else "97"  # whichever contrasts more
        return self._wrap(f"48;5;{_ansi256(hex_color)};{ink}", text)


def analysis_text(analysis: Analysis, *, color: bool = False, width: int = 80) -> str:
    """The readable breakdown of one analysis, each line at most ``width`` columns (ANSI
    escapes aside). ``color`` adds ANSI colours (use it when stdout is a TTY)."""
    width = max(40, width)
    s = _Style(color)
    d = analysis.descriptors
    lines = [s.bold(_truncate(clean_title(analysis.title), width))]
    lines += [
        s.dim(part)
        for part in textwrap.wrap(
            f"{format_duration(d.duration_s)} · {coverage_text(analysis)}", width
        )
    ]
    lines.append("")

    if not analysis.is_music:
        message = not_music_message(analysis.not_music_reason)
        lines += [s.bold(part) for part in textwrap.wrap(message, width)]
        lines.append(s.dim(f"(music confidence {analysis.music_confidence:.2f})"))
        lines.append("")
    else:
        lines += _genre_section(analysis, s, width)
        lines.append("")
        lines += _timeline_section(analysis, s, width)
        lines.append("")
        if analysis.mood:
            lines += _field(s, "Mood", format_mood(analysis).split(" · "), width)
        for group, label in TAG_GROUPS:
            shown = top_items(analysis.tags.get(group, {}), TAG_MAX, TAG_MIN)
            value = [f"{tag} {format_share(p)}" for tag, p in shown]
            lines += _field(s, label, value or f"no clear {label.lower()}", width, dim=not value)
        lines += _field(s, "Tempo", format_tempo(d, confidence=True), width)
        lines += _field(s, "Key", format_key(d, confidence=True), width)

    lines += _field(s, "Loudness", f"{d.loudness_db:.1f} dBFS", width)
    lines += _field(s, "Brightness", f"{d.brightness_hz:.0f} Hz", width)
    lines += _field(s, "Model", analysis.model_version or "unknown", width)
    if analysis.timings_ms:
        timings = dict(analysis.timings_ms)
        total = timings.pop("total", None)
        parts = [f"{k} {format_ms(v)}" for k, v in timings.items()]
        parts += [f"total {format_ms(total)}"] if total is not None else []
        lines += _field(s, "Timings", parts, width, dim=True)
    return "\n".join(lines)


def _field(
    s: _Style, label: str, value: str | list[str], width: int, *, dim: bool = False
) -> list[str]:
    """``Label        value``; a list of items is joined with `` · `` and wrapped between items."""
    items = [value] if isinstance(value, str) else value
    lines = _wrap_items(items, max(10, width - _LABEL_W), sep=" · ") or [""]
    return [
        (s.label(f"{label:<{_LABEL_W}}") if i == 0 else " " * _LABEL_W)
        + (s.dim(part) if dim else part)
        for i, part in enumerate(lines)
    ]


def _genre_section(analysis: Analysis, s: _Style, width: int) -> list[str]:
    rows = genre_shares(analysis)
    name_w = max(len(display_name(g)) for g, _ in rows)
    bar_w = max(10, width - 2 - name_w - 1 - 1 - 4)
    out = [s.label("Genres")]
    for genre, share in rows:
        drawn = bar(share, bar_w)
        out.append(
            f"  {display_name(genre):<{name_w}} {s.fg(genre_color(genre), drawn)}"
            f"{' ' * (bar_w - len(drawn))} {format_share(share):>4}"
        )
    return out


def _timeline_section(analysis: Analysis, s: _Style, width: int) -> list[str]:
    """One character per segment (or per bin of segments when they do not fit), its top genre."""
    shown = chart_genres(analysis)
    symbols = _symbols(shown)
    runs = segment_runs(analysis.timeline)
    if not runs:
        return _field(s, "Timeline", "no segments", width, dim=True)
    joined = 2 * len(runs) > width - 2
    if joined:  # too many windows to draw the gaps between them
        runs = [[seg for run in runs for seg in run]]
    avail = width - 2 - (len(runs) - 1)
    n_seg = sum(len(r) for r in runs)
    if n_seg <= avail:
        columns = [[[seg] for seg in run] for run in runs]
    else:
        columns = [_bins(run, max(1, math.floor(avail * len(run) / n_seg))) for run in runs]
    per_col = sum(seg.end_s - seg.start_s for seg in analysis.timeline) / sum(
        len(c) for c in columns
    )

    used: list[str] = []
    strip_parts = []
    for run_cols in columns:
        leaders = [_leading(col, shown) for col in run_cols]
        used += [g for g in dict.fromkeys(leaders) if g not in used]
        # one escape sequence per stretch of equal leaders
        strip_parts.append(
            "".join(
                s.chip(genre_color(g), symbols[g] * len(list(same)))
                for g, same in groupby(leaders)
            )
        )
    strip = " ".join(strip_parts)
    strip_len = sum(len(c) for c in columns) + len(columns) - 1

    per = f"{per_col:.0f} s" if per_col < 60 else format_duration(per_col)
    head = [f"each character ≈ {per}" if n_seg > avail else f"each character = {per}"]
    if len(runs) > 1:
        head.append(f"{len(runs)} sampled windows, gaps not analyzed")
    elif joined:
        head.append("windows joined")
    out = _field(s, "Timeline", head, width, dim=True)
    out.append("  " + strip)
    start = format_duration(analysis.timeline[0].start_s)
    end = format_duration(analysis.timeline[-1].end_s)
    pad = max(1, strip_len - len(start) - len(end))
    out.append("  " + s.dim(start + " " * pad + end))
    legend = [
        f"{s.chip(genre_color(g), symbols[g])} {display_name(g)}"
        for g in (*shown, OTHER_LABEL, SILENCE_LABEL)
        if g in used
    ]
    out += _wrap_items(legend, width, indent=2)
    return out


def _bins(run: list[Segment], n: int) -> list[list[Segment]]:
    n = min(n, len(run))
    edges = [round(i * len(run) / n) for i in range(n + 1)]
    return [run[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _leading(segments: list[Segment], shown: list[str]) -> str:
    """The genre with the largest mean share over ``segments`` (``"other"`` if not shown;
    ``"silence"`` when most of them are silent)."""
    if sum(seg.silent for seg in segments) * 2 > len(segments):
        return SILENCE_LABEL
    totals: dict[str, float] = {}
    for seg in segments:
        for g, v in seg.genres.items():
            totals[g] = totals.get(g, 0.0) + v
    if not totals:
        return OTHER_LABEL
    best = max(totals, key=totals.__getitem__)
    return best if best in shown else OTHER_LABEL


def _symbols(genres: list[str]) -> dict[str, str]:
    """A distinct capital letter per genre: its first letter not already taken."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    for g in genres:
        name = display_name(g).upper()
        candidates = [c for c in name if c.isalpha()] + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        sym = next(c for c in candidates if c not in taken)
        taken.add(sym)
        out[g] = sym
    out[OTHER_LABEL] = "·"
    out[SILENCE_LABEL] = "_"
    return out


def _wrap_items(items: list[str], width: int, *, indent: int = 0, sep: str = "   ") -> list[str]:
    """Join items with ``sep``, wrapping between items on visible width (ANSI escapes ignored);
    an item longer than a line is cut."""
    lines: list[str] = []
    line, line_w = "", 0
    for item in items:
        w = visible_width(item)
        if line and indent + line_w + len(sep) + w > width:
            lines.append(" " * indent + line)
            line, line_w = "", 0
        if line:
            line, line_w = line + sep + item, line_w + len(sep) + w
        else:
            line, line_w = (
                (item, w)
                if indent + w <= width
                else (_truncate(item, width - indent), width - indent)
            )
    if line:
        lines.append(" " * indent + line)
    return lines


# --------------------------------------------------------------------------- text and colour utils


def strip_ansi(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\x1b" and i + 1 < len(text) and text[i + 1] == "[":
            j = i + 2
            while j < len(text) and not ("@" <= text[j] <= "~"):
                j += 1
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def visible_width(text: str) -> int:
    """Terminal columns of ``text``: ANSI escapes take none, wide (CJK) characters two."""
    return sum(_char_width(ch) for ch in strip_ansi(text))


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _truncate(text: str, width: int) -> str:
    if visible_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


@lru_cache(maxsize=64)
def _ansi256(hex_color: str) -> int:
    """The nearest xterm-256 colour (the 6x6x6 cube or the grey ramp)."""
    levels = (0, 95, 135, 175, 215, 255)
    r, g, b = rgb(hex_color)
    candidates = [
        (16 + 36 * i + 6 * j + k, (levels[i], levels[j], levels[k]))
        for i in range(6) for j in range(6) for k in range(6)
    ] + [(232 + n, (8 + 10 * n,) * 3) for n in range(24)]  # fmt: skip
    return min(
        candidates, key=lambda c: sum((x - y) ** 2 for x, y in zip(c[1], (r, g, b), strict=True))
    )[0]


# --------------------------------------------------------------------------- playlists


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
