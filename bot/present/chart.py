"""The genre timeline of one analysis as a PNG (for Discord embeds and ``earworm analyze --chart``).

A stacked area of genre shares over time on a dark card: the track's leading genres (at most
six) in fixed colour-blind-friendly colours (:data:`bot.present.format.GENRE_COLORS`), the rest grouped as
grey "other", silent stretches (which do not vote) as a dark "silence" band; a legend with whole-track shares; the genre's name written on its band where the
band is wide enough, so colour is never the only cue. Sampled tracks show the stretches that were
not analyzed as hatched breaks, with a note.

Matplotlib is imported inside :func:`genre_timeline_png` (the CLI imports this package on every
start) and used through its object-oriented API (``Figure`` + ``FigureCanvasAgg``): no pyplot, no
global state, safe to call from several threads at once.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.present.colours import (
    OTHER_LABEL,
    SILENCE_COLOR,
    SILENCE_LABEL,
    genre_color,
    relative_luminance,
)
from bot.present.format import (
    GAP_S,
    chart_genres,
    clean_title,
    display_name,
    format_duration,
    format_key,
    format_mood,
    format_share,
    format_tempo,
    genre_shares,
    segment_runs,
    segment_seconds,
)

if TYPE_CHECKING:
    from inference.result import Analysis

# The card: dark, so it sits well in Discord's dark theme and reads as a card on the light one.
BG = "#1E1F22"
TEXT = "#F2F3F5"
MUTED = "#A7ACB5"
GRID = "#4E5058"
HATCH = "#3F4147"
FONT_FAMILY = "DejaVu Sans"  # ships with matplotlib: nothing is downloaded
# Used for characters DejaVu Sans lacks (CJK titles, ...) when the system has them.
FALLBACK_FAMILIES = (
    "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK KR", "Noto Sans CJK TC",
    "WenQuanYi Zen Hei", "Droid Sans Fallback", "Noto Sans", "Noto Sans Arabic",
    "Noto Sans Hebrew", "Noto Sans Devanagari", "Noto Sans Thai",
)  # fmt: skip
MIN_POINT_PX = 5  # segments closer than this on screen are averaged
MIN_PX, MAX_PX = (200, 120), (4000, 3000)
_TICK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800)


def genre_timeline_png(
    analysis: Analysis, *, width_px: int = 1000, height_px: int = 420, title: str | None = None
) -> bytes:
    """Render the genre timeline of ``analysis`` as PNG bytes of exactly ``width_px`` x ``height_px``.

    Raises ``ValueError`` for a not-music analysis (it has no genres) or an impossible size.
    """
    if not analysis.is_music:
        raise ValueError("no genre timeline for non-music")
    if not analysis.timeline:
        raise ValueError("no genre timeline: the analysis has no segments")
    if not (MIN_PX[0] <= width_px <= MAX_PX[0] and MIN_PX[1] <= height_px <= MAX_PX[1]):
        raise ValueError(f"chart size {width_px}x{height_px} px is outside {MIN_PX} to {MAX_PX}")

    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    families, glyphs = _fonts()
    scale = min(max(min(width_px / 1000, height_px / 420), 0.6), 2.5)
    px_per_pt = 100 / 72
    fs = {
        k: v * scale
        for k, v in {"title": 15, "sub": 10, "legend": 10, "tick": 9, "band": 9, "note": 9}.items()
    }

    shown = chart_genres(analysis)
    # The layers, bottom up: the shown genres, "other", silence.
    colors = [genre_color(g) for g in (*shown, OTHER_LABEL, SILENCE_LABEL)]
    runs = segment_runs(analysis.timeline)
    cov = analysis.coverage
    seg_s = segment_seconds(analysis)
    first, last = analysis.timeline[0].start_s, analysis.timeline[-1].end_s
    duration = max(cov.duration_s, analysis.descriptors.duration_s, last)
    # The axis spans the whole track when parts were left out; otherwise the analyzed stretch
    # (a sub-segment tail is dropped by the analysis and is not worth a hatched sliver).
    x_end = duration if (cov.sampled or duration - last > seg_s) else last
    x_end = max(x_end, first + 1e-3)

    # Layout in pixels -> figure fractions.
    pad = 18 * scale
    left, right = 58 * scale, 190 * scale
    top = 78 * scale
    bottom = (60 if cov.sampled else 38) * scale
    ax_w, ax_h = width_px - left - right, height_px - top - bottom
    if ax_w < 60 or ax_h < 40:
        raise ValueError(f"chart size {width_px}x{height_px} px leaves no room for the plot")

    fig = Figure(figsize=(width_px / 100, height_px / 100), dpi=100, facecolor=BG)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / width_px, bottom / height_px, ax_w / width_px, ax_h / height_px))
    ax.set_facecolor(BG)
    text_kw = {"family": list(families), "parse_math": False}  # titles are text, never TeX

    # The stacked areas: one polygon per layer per contiguous run of segments, all in one
    # collection. Each segment's shares sit at its midpoint and hold flat to the run's ends, so a
    # run covers exactly the time it describes and a single segment still shows as a band. Where
    # segments are narrower than a few pixels, neighbours are averaged (the text strip does too).
    px_per_s = ax_w / x_end
    per_bin = max(1, math.ceil(MIN_POINT_PX / max(seg_s * px_per_s, 1e-9)))
    polygons, poly_colors, band_data = [], [], []
    for run in runs:
        shares = np.array([[seg.genres.get(g, 0.0) for g in shown] for seg in run], dtype=float)
        shares = np.clip(shares, 0.0, 1.0)
        silent = np.array([[float(seg.silent)] for seg in run])
        other = np.clip(1.0 - shares.sum(1, keepdims=True), 0.0, 1.0) * (1.0 - silent)
        shares = np.concatenate([shares, other, silent], axis=1)
        shares /= np.maximum(shares.sum(1, keepdims=True), 1e-9)
        mids = np.array([(seg.start_s + seg.end_s) / 2 for seg in run])
        if per_bin > 1:
            edges = np.arange(0, len(run), per_bin)
            counts = np.diff(np.append(edges, len(run)))[:, None]
            shares = np.add.reduceat(shares, edges, axis=0) / counts
            mids = np.add.reduceat(mids, edges) / counts[:, 0]
        x = np.concatenate([[run[0].start_s], mids, [run[-1].end_s]])
        y = np.concatenate([shares[:1], shares, shares[-1:]])
        tops = np.cumsum(y, axis=1)
        bottoms = tops - y
        for j, color in enumerate(colors):
            if (tops[:, j] - bottoms[:, j]).max() < 1e-4:
                continue  # a genre absent from this run
            polygons.append(
                np.concatenate(
                    [np.column_stack([x, tops[:, j]]), np.column_stack([x, bottoms[:, j]])[::-1]]
                )
            )
            poly_colors.append(color)
        band_data.append(
            (mids, bottoms[1:-1], tops[1:-1], (run[-1].end_s - run[0].start_s) / len(mids))
        )
    # Thin separators in the card colour help tell bands apart, where the points are far apart.
    spacing_px = seg_s * per_bin * px_per_s
    edge_w = 0.6 * scale if spacing_px >= 10 else 0.0
    ax.add_collection(PolyCollection(
        polygons, facecolors=poly_colors, edgecolors=BG if edge_w else "face",
        linewidths=edge_w or 0.3, zorder=2, antialiased=True,
    ))  # fmt: skip

    # Honest breaks: what was not analyzed shows as hatching behind the areas.
    gaps = [runs[0][0].start_s] + [
        b[0].start_s - a[-1].end_s for a, b in zip(runs, runs[1:], strict=False)
    ]
    if max(gaps) > GAP_S or x_end - last > GAP_S:
        ax.add_patch(
            Rectangle(
                (0, 0), x_end, 1, facecolor=BG, edgecolor=HATCH, hatch="///", linewidth=0, zorder=1
            )
        )

    # Grid lines over the areas, in the card colour: they read as faint separators.
    for yv in (0.25, 0.5, 0.75):
        ax.axhline(yv, color=BG, alpha=0.45, linewidth=0.8 * scale, zorder=3)

    # Axes, drawn by hand: matplotlib's tick machinery costs more than the rest of the chart.
    ax.set_xlim(0, x_end)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    tick_len = 4 * scale / ax_h  # in axes fractions (y); x ticks hang below the plot
    step = _tick_step(x_end, max(3, int(ax_w / (85 * scale))))
    xticks = np.arange(0, x_end + 1e-6, step)
    xt = ax.get_xaxis_transform()  # x in data, y in axes fractions
    yt = ax.get_yaxis_transform()  # x in axes fractions, y in data
    segs = [[(v, 0), (v, -tick_len)] for v in xticks]
    ax.add_collection(
        LineCollection(segs, colors=MUTED, linewidths=0.8 * scale, transform=xt, clip_on=False)
    )
    segs = [[(0, v), (-tick_len * ax_h / ax_w, v)] for v in (0, 0.25, 0.5, 0.75, 1.0)]
    ax.add_collection(
        LineCollection(segs, colors=MUTED, linewidths=0.8 * scale, transform=yt, clip_on=False)
    )
    axis_lines = [[(0, 1), (0, 0), (1, 0)]]
    ax.add_collection(
        LineCollection(
            axis_lines, colors=GRID, linewidths=0.8 * scale, transform=ax.transAxes, clip_on=False
        )
    )
    for v in xticks:
        label = format_duration(float(v))
        y = -(tick_len + 4 * scale / ax_h)
        ax.text(
            v,
            y,
            label,
            transform=xt,
            color=MUTED,
            fontsize=fs["tick"],
            ha="center",
            va="top",
            clip_on=False,
        )
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        ax.text(
            -(tick_len + 5 * scale / ax_h) * ax_h / ax_w,
            v,
            f"{v:.0%}",
            transform=yt,
            color=MUTED,
            fontsize=fs["tick"],
            ha="right",
            va="center",
            clip_on=False,
        )

    # Names on the bands where they fit.
    _label_bands(ax, band_data, shown, colors, fs["band"], px_per_pt, ax_w / x_end, ax_h, text_kw)

    # Title, subtitle, legend, note.
    name = _printable(clean_title(title if title is not None else analysis.title), glyphs)
    max_chars = int((width_px - 2 * pad) / (fs["title"] * px_per_pt * 0.62))
    if len(name) > max_chars:
        name = name[: max(1, max_chars - 1)].rstrip() + "…"
    fig.text(
        pad / width_px,
        1 - pad / height_px,
        name,
        color=TEXT,
        fontsize=fs["title"],
        fontweight="bold",
        va="top",
        ha="left",
        **text_kw,
    )
    d = analysis.descriptors
    facts = ["Genre timeline", format_duration(duration)]
    facts += [format_tempo(d)] if d.tempo_bpm is not None else []
    facts += [format_key(d, short=True)] if d.key is not None else []
    facts += [f"mood: {format_mood(analysis, 1)}"] if analysis.mood else []
    fig.text(
        pad / width_px,
        1 - (pad + fs["title"] * px_per_pt * 1.45) / height_px,
        "  ·  ".join(facts),
        color=MUTED,
        fontsize=fs["sub"],
        va="top",
        ha="left",
        **text_kw,
    )

    entries = genre_shares(analysis)  # the shown genres, then "other"
    silent_s = sum(seg.end_s - seg.start_s for seg in analysis.timeline if seg.silent)
    # The legend, drawn by hand (a matplotlib Legend costs more than the rest of the chart).
    lx = left + ax_w + 16 * scale
    ly = top
    fig.text(
        lx / width_px,
        1 - ly / height_px,
        "whole track",
        color=MUTED,
        fontsize=fs["note"],
        va="top",
        ha="left",
        **text_kw,
    )
    row = fs["legend"] * px_per_pt * 1.75
    box = fs["legend"] * px_per_pt * 0.95
    labels = [(genre_color(g), f"{display_name(g)}  {format_share(v)}") for g, v in entries]
    if silent_s > 0:  # not a share of the genres: its length instead
        labels.append((SILENCE_COLOR, f"{SILENCE_LABEL}  {format_duration(silent_s)}"))
    for i, (color, text) in enumerate(labels):
        cy = ly + fs["note"] * px_per_pt * 1.9 + (i + 0.5) * row
        fig.add_artist(Rectangle(
            (lx / width_px, 1 - (cy + box / 2) / height_px), box / width_px, box / height_px,
            transform=fig.transFigure, facecolor=color, edgecolor=GRID,
            linewidth=0.5 if color == SILENCE_COLOR else 0,
        ))  # fmt: skip
        fig.text(
            (lx + box + 8 * scale) / width_px,
            1 - cy / height_px,
            text,
            color=TEXT,
            fontsize=fs["legend"],
            va="center_baseline",
            ha="left",
            **text_kw,
        )

    if cov.sampled:
        windows = len(runs)
        note = (
            f"Sampled: {windows} window{'s' if windows != 1 else ''} of a {_minutes(duration)} track "
            f"({format_duration(cov.analyzed_s)} analyzed); hatched stretches were not analyzed."
        )
        fig.text(
            pad / width_px,
            10 * scale / height_px,
            note,
            color=MUTED,
            fontsize=fs["note"],
            va="bottom",
            ha="left",
            style="italic",
            **text_kw,
        )

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, facecolor=BG, metadata={"Software": None})
    return buf.getvalue()


def _label_bands(
    ax: Any, band_data: list, shown: list[str], colors: list[str], fontsize: float,
    px_per_pt: float, px_per_s: float, ax_h: float, text_kw: dict[str, Any],
) -> None:  # fmt: skip
    """Write each named genre on its band, where the band stays thickest over the label's width."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    height_px = fontsize * px_per_pt
    for j, genre in enumerate(shown):
        text = display_name(genre)
        text_s = (len(text) * height_px * 0.62 + 8) / px_per_s  # label width in seconds
        best = None  # (thickness, x, y)
        for mids, bottoms, tops, step_s in band_data:
            thick = tops[:, j] - bottoms[:, j]
            k = max(1, math.ceil(text_s / max(step_s, 1e-6)))
            if k > len(thick):
                if len(thick) * step_s < text_s * 0.9:
                    continue  # the run is narrower than the label
                k = len(thick)
            floor = sliding_window_view(thick, k).min(axis=1)
            # among windows nearly as good as the best, the one nearest the middle of the run
            good = np.flatnonzero(floor >= floor.max() * 0.9)
            i = int(good[np.argmin(np.abs(good + (k - 1) / 2 - (len(thick) - 1) / 2))])
            if best is None or floor[i] > best[0]:
                sl = slice(i, i + k)
                centre = float((bottoms[sl, j] + tops[sl, j]).mean() / 2)
                best = (float(floor[i]), float(mids[sl].mean()), centre)
        if best is None or best[0] * ax_h < height_px * 1.5:
            continue
        _, x, y = best
        lo, hi = ax.get_xlim()
        half = text_s / 2
        x = min(max(x, lo + half), hi - half)
        ink = "#111214" if relative_luminance(colors[j]) > 0.18 else "#FFFFFF"
        ax.text(
            x,
            y,
            text,
            color=ink,
            fontsize=fontsize,
            ha="center",
            va="center",
            zorder=4,
            fontweight="bold",
            **text_kw,
        )


def _tick_step(span_s: float, max_ticks: int) -> float:
    for step in _TICK_STEPS:
        if span_s / step <= max_ticks:
            return float(step)
    return float(3600 * math.ceil(span_s / 3600 / max_ticks))


def _minutes(seconds: float) -> str:
    """``1500`` -> ``"25 min"``; ``5400`` -> ``"1 h 30 min"``; under a minute in seconds."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@lru_cache(maxsize=1)
def _fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """The font family list (DejaVu Sans, then installed fallbacks) and the code points it covers."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    installed = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    families = (FONT_FAMILY, *(f for f in FALLBACK_FAMILIES if f in installed))
    covered: set[int] = set()
    for family in families:
        path = installed.get(family) or font_manager.findfont(family)
        try:
            covered.update(FT2Font(path).get_charmap())
        except (OSError, RuntimeError):  # pragma: no cover - an unreadable font file
            continue
    return families, frozenset(covered)


def _printable(text: str, glyphs: frozenset[int]) -> str:
    """Replace characters no available font can draw (matplotlib would warn and draw boxes)."""
    return "".join(ch if ord(ch) in glyphs or ch.isspace() else "?" for ch in text)
