"""Human-readable views of an :class:`~inference.result.Analysis`: terminal text and one-liners.

- :func:`analysis_text`: the breakdown ``earworm analyze song.mp3`` prints (optionally in ANSI
  colour): genres with bars, a timeline strip, tags, tempo, key, loudness, brightness, timings.
- :func:`analysis_summary_line`: one line for lists ("jazz 80% · electronic 15% — 130 BPM, E major ·
  12B").
- Formatting helpers shared with the Discord embeds and the chart: :func:`format_duration`,
  :func:`format_tempo`, :func:`format_key`, :func:`format_share`, :func:`top_items`,
  :func:`chart_genres` and the fixed per-genre colours :data:`GENRE_COLORS`.

Imports stay light (no numpy, no matplotlib): the CLI imports this module on every start.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from itertools import groupby
from typing import TYPE_CHECKING

from inference.genres import display_name
from inference.keys import make_key

if TYPE_CHECKING:
    from inference.result import Analysis, Descriptors, Segment

# A fixed colour per genre, the same in every chart and terminal, so people learn them. The seven
# most common genres get Okabe & Ito's colour-blind-safe set; the rest come from Paul Tol's
# schemes, placed so that genres which often share a track (jazz/blues/R&B, rock/metal/punk,
# pop/electronic/hip-hop/disco, folk/country) never get look-alike colours. Anything not named in
# a chart is OTHER_COLOR.
GENRE_COLORS: dict[str, str] = {
    "jazz": "#56B4E9",  # sky blue
    "classical": "#F0E442",  # yellow
    "rock": "#D55E00",  # vermillion
    "pop": "#CC79A7",  # reddish purple
    "folk": "#009E73",  # bluish green
    "country": "#E69F00",  # orange
    "electronic": "#0072B2",  # blue
    "blues": "#AA4499",  # magenta
    "rnb/soul": "#EE8866",  # salmon
    "hip-hop": "#BBCC33",  # pear
    "metal": "#FFAABB",  # pink
    "punk": "#9C8FE8",  # violet
    "reggae": "#44BB99",  # mint
    "disco": "#99DDFF",  # pale cyan
}
OTHER_COLOR = "#80848E"
OTHER_LABEL = "other"
SILENCE_COLOR = "#2B2D31"  # silent stretches: darker than the card's grid, never a genre colour
SILENCE_LABEL = "silence"

CHART_MAX_GENRES = 6  # genres named in the chart, the strip and the bars; the rest is "other"
NOTABLE_SHARE = 0.02  # a genre this large over the whole track is named...
NOTABLE_PEAK = 0.25  # ...and so is one that reaches this share in some segment
TAG_MIN = 0.10  # tag probabilities below this are not shown...
TAG_MAX = 3  # ...and at most this many per group
MOOD_MAX = 2  # mood quadrants shown (the strongest first)
TAG_GROUPS = (
    ("mood", "Feel"),  # the tag heads' mood words; "Mood" is the trained 4Q quadrant
    ("era", "Era"),
    ("vocals", "Vocals"),
    ("instruments", "Instruments"),
)
GAP_S = 0.5  # consecutive segments further apart than this belong to different windows

_NOT_MUSIC = {
    "speech": "it sounds like speech",
    "silence": "it's (nearly) silent",
    "noise": "it sounds like noise",
}
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_LABEL_W = 13


# --------------------------------------------------------------------------- formatting helpers


def format_duration(seconds: float | None) -> str:
    """``125.4`` -> ``"2:05"``; ``3903`` -> ``"1:05:03"``; rounded to the nearest second."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?:??"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_share(share: float) -> str:
    """A share in [0, 1] as a whole percentage; tiny but non-zero shares read ``"<1%"``."""
    if 0 < share < 0.005:
        return "<1%"
    return f"{round(share * 100):d}%"


def format_tempo(descriptors: Descriptors, *, confidence: bool = False) -> str:
    """``"130 BPM"``; ``"182 BPM, or 91 half time"`` when the half (or double) tempo is nearly as
    likely; ``" (confidence 0.33)"`` appended with ``confidence``; or ``"no steady beat"``."""
    if descriptors.tempo_bpm is None:
        return "no steady beat"
    text = f"{round(descriptors.tempo_bpm):d} BPM"
    alt = descriptors.tempo_alternative_bpm
    if alt:
        text += f", or {round(alt):d} {'half' if alt < descriptors.tempo_bpm else 'double'} time"
    return f"{text} (confidence {descriptors.tempo_confidence:.2f})" if confidence else text


def format_key(descriptors: Descriptors, *, confidence: bool = False, short: bool = False) -> str:
    """The key as musicians and DJs read it: ``"A minor · relative of C major · 8A"`` (name in
    conventional spelling, its relative key, its Camelot code); ``"A minor · 8A"`` with
    ``short``; ``" (confidence 0.62)"`` appended with ``confidence``; or ``"no clear key"``."""
    key = make_key(descriptors.key, descriptors.mode)
    if key is None:
        return "no clear key"
    text = f"{key.name} · {key.camelot}" if short else key.display()
    return f"{text} (confidence {descriptors.key_confidence:.2f})" if confidence else text


def format_mood(analysis: Analysis, n: int = MOOD_MAX) -> str:
    """``"calm 62% · sad 21%"``: the strongest mood quadrants; ``""`` when there is no mood."""
    return " · ".join(f"{m} {format_share(v)}" for m, v in top_items(analysis.mood, n))


def format_ms(ms: float) -> str:
    """``75.1`` -> ``"75 ms"``; ``2153.7`` -> ``"2.15 s"``."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def top_items(d: Mapping[str, float], n: int, min_value: float = 0.0) -> list[tuple[str, float]]:
    """The ``n`` largest ``(key, value)`` pairs with ``value >= min_value``, largest first."""
    ranked = sorted(d.items(), key=lambda kv: -kv[1])
    return [(k, v) for k, v in ranked if v >= min_value][: max(0, n)]


def genre_color(genre: str) -> str:
    """The fixed ``#RRGGBB`` colour of a genre (grey for "other" and unknown names)."""
    return GENRE_COLORS.get(genre, OTHER_COLOR)


def chart_genres(analysis: Analysis, max_genres: int = CHART_MAX_GENRES) -> list[str]:
    """The genres worth naming, by whole-track share: those with a notable share, that lead some
    segment or peak high somewhere; at most ``max_genres``. Always the top genre, if any."""
    peak: dict[str, float] = {}
    leads: set[str] = set()
    for seg in analysis.timeline:
        if seg.genres:
            leads.add(max(seg.genres, key=seg.genres.__getitem__))
        for g, v in seg.genres.items():
            peak[g] = max(peak.get(g, 0.0), v)
    ranked = sorted(analysis.genres.items(), key=lambda kv: -kv[1])
    chosen = [
        g for i, (g, share) in enumerate(ranked)
        if i == 0 or share >= NOTABLE_SHARE or g in leads or peak.get(g, 0.0) >= NOTABLE_PEAK
    ]  # fmt: skip
    return chosen[:max_genres]


def segment_runs(timeline: list[Segment], gap_s: float = GAP_S) -> list[list[Segment]]:
    """Split the timeline into runs of consecutive segments (one run per analysed window)."""
    runs: list[list[Segment]] = []
    for seg in timeline:
        if runs and seg.start_s - runs[-1][-1].end_s <= gap_s:
            runs[-1].append(seg)
        else:
            runs.append([seg])
    return runs


def segment_seconds(analysis: Analysis) -> float:
    """The length of one analysed segment (about 3 s)."""
    cov = analysis.coverage
    if cov.segments and cov.analysed_s:
        return cov.analysed_s / cov.segments
    if analysis.timeline:
        return analysis.timeline[0].end_s - analysis.timeline[0].start_s
    return 3.0


def coverage_text(analysis: Analysis) -> str:
    """``"analysed all 20 segments"`` or ``"sampled 100 of 500 segments in 10 windows"``."""
    cov = analysis.coverage
    noun = "segment" if cov.segments == 1 else "segments"
    if not cov.sampled:
        return f"analysed all {cov.segments} {noun}" if cov.segments != 1 else "analysed 1 segment"
    total = max(cov.segments, int(cov.duration_s // max(segment_seconds(analysis), 1e-6)))
    windows = len(segment_runs(analysis.timeline))
    text = f"sampled {cov.segments} of {total} segments"
    return text + (f" in {windows} windows" if windows > 1 else "")


def not_music_text(analysis: Analysis) -> str:
    why = _NOT_MUSIC.get(analysis.not_music_reason or "")
    return f"This doesn't sound like music: {why}." if why else "This doesn't sound like music."


def clean_title(title: str, fallback: str = "Untitled track") -> str:
    """A title safe to print: control characters (terminal escapes among them) become spaces."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in title)
    return " ".join(text.split()) or fallback


# --------------------------------------------------------------------------- the one-liner


def analysis_summary_line(analysis: Analysis) -> str:
    """``"jazz 80% · electronic 15% — 130 BPM, E major · 12B"``; ``"not music (speech)"``
    otherwise."""
    if not analysis.is_music:
        reason = analysis.not_music_reason
        return f"not music ({reason})" if reason else "not music"
    top = top_items(analysis.genres, 3, 0.10) or top_items(analysis.genres, 1)
    genres = " · ".join(f"{display_name(g)} {format_share(v)}" for g, v in top) or "no genres"
    d = analysis.descriptors
    extra = [format_tempo(d)] if d.tempo_bpm is not None else []
    extra += [format_key(d, short=True)] if d.key is not None else []
    return genres + (" — " + ", ".join(extra) if extra else "")


# --------------------------------------------------------------------------- the terminal view


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
        lines += [s.bold(part) for part in textwrap.wrap(not_music_text(analysis), width)]
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
    shown = chart_genres(analysis)
    rows = [(g, analysis.genres[g]) for g in shown]
    rest = max(0.0, 1.0 - sum(v for _, v in rows))
    if rest >= 0.005:
        rows.append((OTHER_LABEL, rest))
    name_w = max(len(display_name(g)) for g, _ in rows)
    bar_w = max(10, width - 2 - name_w - 1 - 1 - 4)
    out = [s.label("Genres")]
    for genre, share in rows:
        bar = _bar(share, bar_w)
        out.append(
            f"  {display_name(genre):<{name_w}} {s.fg(genre_color(genre), bar)}"
            f"{' ' * (bar_w - len(bar))} {format_share(share):>4}"
        )
    return out


def _bar(share: float, width: int) -> str:
    eighths = int(round(max(0.0, min(1.0, share)) * width * 8))
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar or ("▏" if share > 0 else "")


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
                s.chip(SILENCE_COLOR if g == SILENCE_LABEL else genre_color(g), symbols[g] * len(list(same)))
                for g, same in groupby(leaders)
            )
        )
    strip = " ".join(strip_parts)
    strip_len = sum(len(c) for c in columns) + len(columns) - 1

    per = f"{per_col:.0f} s" if per_col < 60 else format_duration(per_col)
    head = [f"each character ≈ {per}" if n_seg > avail else f"each character = {per}"]
    if len(runs) > 1:
        head.append(f"{len(runs)} sampled windows, gaps not analysed")
    elif joined:
        head.append("windows joined")
    out = _field(s, "Timeline", head, width, dim=True)
    out.append("  " + strip)
    start = format_duration(analysis.timeline[0].start_s)
    end = format_duration(analysis.timeline[-1].end_s)
    pad = max(1, strip_len - len(start) - len(end))
    out.append("  " + s.dim(start + " " * pad + end))
    legend = [
        f"{s.chip(genre_color(g), symbols.get(g, '·'))} {display_name(g)}"
        for g in [g for g in shown if g in used] + [x for x in (OTHER_LABEL,) if x in used]
    ]
    if SILENCE_LABEL in used:
        legend.append(f"{s.chip(SILENCE_COLOR, symbols[SILENCE_LABEL])} {SILENCE_LABEL}")
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


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def relative_luminance(hex_color: str) -> float:
    """Relative luminance (WCAG) in [0, 1]."""

    def lin(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = _rgb(hex_color)
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


@lru_cache(maxsize=64)
def _ansi256(hex_color: str) -> int:
    """The nearest xterm-256 colour (the 6x6x6 cube or the grey ramp)."""
    levels = (0, 95, 135, 175, 215, 255)
    r, g, b = _rgb(hex_color)
    candidates = [
        (16 + 36 * i + 6 * j + k, (levels[i], levels[j], levels[k]))
        for i in range(6) for j in range(6) for k in range(6)
    ] + [(232 + n, (8 + 10 * n,) * 3) for n in range(24)]  # fmt: skip
    return min(
        candidates, key=lambda c: sum((x - y) ** 2 for x, y in zip(c[1], (r, g, b), strict=True))
    )[0]
