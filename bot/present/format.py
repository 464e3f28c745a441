"""Formatting shared by both front ends (the terminal and Discord) and the chart: durations,
shares, tempo, key, mood, titles, genre names, which genres a view names (and with what
shares), and the one-line summary of an analysis.

Imports stay light (no numpy, no matplotlib): the CLI imports this module on every start.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.present.colours import OTHER_LABEL
from inference.genres import display_name
from inference.keys import make_key

if TYPE_CHECKING:
    from inference.result import Analysis, Descriptors, Segment

__all__ = [
    "analysis_summary_line",
    "bar",
    "chart_genres",
    "clean_title",
    "coverage_text",
    "display_name",
    "format_duration",
    "format_key",
    "format_mood",
    "format_ms",
    "format_share",
    "format_tempo",
    "genre_shares",
    "not_music_label",
    "segment_runs",
    "segment_seconds",
    "top_items",
]

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

_EIGHTHS = " ▏▎▍▌▋▊▉█"

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


def genre_shares(
    analysis: Analysis, max_genres: int = CHART_MAX_GENRES
) -> list[tuple[str, float]]:
    """``(genre, whole-track share)`` for each of :func:`chart_genres`, then
    ``(OTHER_LABEL, the rest)`` when the rest would show as at least 1%: the rows of the bars
    and of the chart's legend."""
    rows = [(g, analysis.genres[g]) for g in chart_genres(analysis, max_genres)]
    rest = max(0.0, 1.0 - sum(share for _, share in rows))
    return rows + [(OTHER_LABEL, rest)] if rest >= 0.005 else rows


def segment_runs(timeline: list[Segment], gap_s: float = GAP_S) -> list[list[Segment]]:
    """Split the timeline into runs of consecutive segments (one run per analyzed window)."""
    runs: list[list[Segment]] = []
    for seg in timeline:
        if runs and seg.start_s - runs[-1][-1].end_s <= gap_s:
            runs[-1].append(seg)
        else:
            runs.append([seg])
    return runs


def segment_seconds(analysis: Analysis) -> float:
    """The length of one analyzed segment (about 3 s)."""
    cov = analysis.coverage
    if cov.segments and cov.analyzed_s:
        return cov.analyzed_s / cov.segments
    if analysis.timeline:
        return analysis.timeline[0].end_s - analysis.timeline[0].start_s
    return 3.0


def coverage_text(analysis: Analysis) -> str:
    """``"analyzed all 20 segments"`` or ``"sampled 100 of 500 segments in 10 windows"``."""
    cov = analysis.coverage
    noun = "segment" if cov.segments == 1 else "segments"
    if not cov.sampled:
        return f"analyzed all {cov.segments} {noun}" if cov.segments != 1 else "analyzed 1 segment"
    total = max(cov.segments, int(cov.duration_s // max(segment_seconds(analysis), 1e-6)))
    windows = len(segment_runs(analysis.timeline))
    text = f"sampled {cov.segments} of {total} segments"
    return text + (f" in {windows} windows" if windows > 1 else "")


def clean_title(title: str, fallback: str = "Untitled track") -> str:
    """A title safe to print: control characters (terminal escapes among them) become spaces."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in title)
    return " ".join(text.split()) or fallback


# --------------------------------------------------------------------------- the one-liner


def analysis_summary_line(analysis: Analysis) -> str:
    """``"jazz 80% · electronic 15% — 130 BPM, E major · 12B"``; ``"not music (speech)"``
    otherwise."""
    if not analysis.is_music:
        return not_music_label(analysis.not_music_reason)
    top = top_items(analysis.genres, 3, 0.10) or top_items(analysis.genres, 1)
    genres = " · ".join(f"{display_name(g)} {format_share(v)}" for g, v in top) or "no genres"
    d = analysis.descriptors
    extra = [format_tempo(d)] if d.tempo_bpm is not None else []
    extra += [format_key(d, short=True)] if d.key is not None else []
    return genres + (" — " + ", ".join(extra) if extra else "")


def bar(share: float, width: int) -> str:
    """A horizontal bar ``width`` characters long at most, drawn in eighths of a character
    (``"████▌"``); a sliver for a tiny non-zero share, ``""`` for zero."""
    eighths = int(round(max(0.0, min(1.0, share)) * width * 8))
    full, part = divmod(eighths, 8)
    drawn = "█" * full + (_EIGHTHS[part] if part else "")
    return drawn or ("▏" if share > 0 else "")


def not_music_label(reason: str | None) -> str:
    """``"not music (speech)"``: a short label for lists (the message is the service's)."""
    return f"not music ({reason})" if reason else "not music"
