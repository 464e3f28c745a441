"""The terminal breakdown, the one-liner, the formatting helpers and the genre timeline chart,
on real analyses of the fixtures and on synthetic edge cases built from them."""

from __future__ import annotations

import dataclasses
import io
import re
import struct
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bot.cli.text import analysis_text, strip_ansi, visible_width
from bot.present.chart import genre_timeline_png
from bot.present.colours import GENRE_COLORS, OTHER_COLOR
from bot.present.format import (
    analysis_summary_line,
    chart_genres,
    format_duration,
    format_key,
    format_share,
    format_tempo,
    top_items,
)
from inference.genres import GENRES, display_name
from inference.result import Analysis, Coverage, Descriptors, Segment

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAR_CHARS = set("█▉▊▋▌▍▎▏")
SEG = 2.992


@pytest.fixture(scope="module")
def analyses() -> dict[str, Analysis]:
    from inference.analysis import AnalysisOptions, Analyzer

    analyzer = Analyzer.load(threads=1)
    names = ("vibe_ace", "sugar_plum_fairy", "lets_go_fishin", "not_music_speech")
    every_patch = AnalysisOptions(max_full_s=600)  # whole timelines (the default samples past 72 s)
    return {name: analyzer.analyze(FIXTURES / f"{name}.ogg", opts=every_patch) for name in names}


# --------------------------------------------------------------------------- synthetic analyses


def with_timeline(
    base: Analysis, segments: list[Segment], *, duration: float, sampled: bool = False
) -> Analysis:
    """``base`` with another timeline; whole-track genres are the segment mean, as the analysis does."""
    totals: dict[str, float] = {}
    for seg in segments:
        for g, v in seg.genres.items():
            totals[g] = totals.get(g, 0.0) + v / len(segments)
    genres = dict(sorted(totals.items(), key=lambda kv: -kv[1]))
    coverage = Coverage(duration, round(len(segments) * SEG, 3), len(segments), sampled)
    return dataclasses.replace(
        base, timeline=segments, genres=genres, coverage=coverage,
        descriptors=dataclasses.replace(base.descriptors, duration_s=duration),
    )  # fmt: skip


def many_segments(base: Analysis, n: int = 500) -> Analysis:
    src = base.timeline
    segs = [
        Segment(round(i * SEG, 3), round((i + 1) * SEG, 3), src[i % len(src)].genres)
        for i in range(n)
    ]
    return with_timeline(base, segs, duration=n * SEG)


def single_segment(base: Analysis) -> Analysis:
    return with_timeline(base, [Segment(0.0, SEG, base.timeline[0].genres)], duration=SEG)


def one_genre(base: Analysis, genre: str = "reggae") -> Analysis:
    segs = [Segment(s.start_s, s.end_s, {genre: 1.0}) for s in base.timeline]
    return with_timeline(base, segs, duration=base.descriptors.duration_s)


def sampled(
    base: Analysis, windows: int = 10, per_window: int = 10, duration: float = 1500.0
) -> Analysis:
    """Evenly spaced windows over a 25 min track, as the analysis samples long tracks."""
    src, segs = base.timeline, []
    for w in range(windows):
        start = w * (duration - per_window * SEG) / (windows - 1)
        for j in range(per_window):
            genres = src[(w * per_window + j) % len(src)].genres
            segs.append(Segment(round(start + j * SEG, 3), round(start + (j + 1) * SEG, 3), genres))
    return with_timeline(base, segs, duration=duration, sampled=True)


def lines_of(text: str, header: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(header)]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (5.4, "0:05"), (65, "1:05"), (119.876, "2:00"), (599.6, "10:00"),
     (3600, "1:00:00"), (3903, "1:05:03"), (None, "?:??"), (float("nan"), "?:??"), (-1, "?:??")],
)  # fmt: skip
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def descriptors(**kw) -> Descriptors:
    base = {"tempo_bpm": 129.99, "tempo_confidence": 0.334, "key": "E", "mode": "major",
            "key_confidence": 0.487, "loudness_db": -19.3, "brightness_hz": 514.0, "duration_s": 61.5}  # fmt: skip
    return Descriptors(**{**base, **kw})


@pytest.mark.parametrize(
    ("key", "mode", "text"),
    [("E", "major", "E major · relative of C# minor · 12B"),
     ("F", "minor", "F minor · relative of Ab major · 4A"),
     ("A#", "major", "Bb major · relative of G minor · 6B"),
     ("A#", "minor", "Bb minor · relative of Db major · 3A"),
     ("C#", "major", "Db major · relative of Bb minor · 3B"),
     ("C#", "minor", "C# minor · relative of E major · 12A"),
     ("G#", "minor", "G# minor · relative of B major · 1A"),
     ("D#", "minor", "Eb minor · relative of F# major · 2A"),
     ("F#", "major", "F# major · relative of Eb minor · 2B"),
     ("A", "minor", "A minor · relative of C major · 8A"),
     (None, None, "no clear key")],
)  # fmt: skip
def test_format_key(key, mode, text):
    assert format_key(descriptors(key=key, mode=mode)) == text


def test_format_key_and_tempo_with_confidence():
    d = descriptors()
    assert format_key(d, confidence=True) == "E major · relative of C# minor · 12B (confidence 0.49)"
    assert format_key(d, short=True) == "E major · 12B"
    assert format_tempo(d) == "130 BPM"
    assert format_tempo(d, confidence=True) == "130 BPM (confidence 0.33)"
    assert format_tempo(descriptors(tempo_bpm=None)) == "no steady beat"


def test_format_tempo_names_half_or_double_time():
    half = descriptors(tempo_bpm=181.58, tempo_alternative_bpm=90.79, tempo_confidence=0.5)
    assert format_tempo(half) == "182 BPM, or 91 half time"
    assert format_tempo(half, confidence=True) == "182 BPM, or 91 half time (confidence 0.50)"
    double = descriptors(tempo_bpm=87.0, tempo_alternative_bpm=174.0)
    assert format_tempo(double) == "87 BPM, or 174 double time"


def test_format_share():
    assert [format_share(v) for v in (0.0, 0.003, 0.006, 0.1478, 0.8038, 1.0)] == [
        "0%", "<1%", "1%", "15%", "80%", "100%",
    ]  # fmt: skip


def test_top_items():
    d = {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.05}
    assert top_items(d, 2, 0.0) == [("b", 0.5), ("c", 0.3)]
    assert top_items(d, 10, 0.1) == [("b", 0.5), ("c", 0.3), ("a", 0.1)]
    assert top_items(d, 3, 0.9) == []
    assert top_items({}, 3, 0.0) == [] and top_items(d, 0, 0.0) == []


def test_every_genre_has_its_own_colour():
    assert set(GENRE_COLORS) == set(GENRES)
    colours = [c.upper() for c in GENRE_COLORS.values()]
    assert len(set(colours)) == len(colours) and OTHER_COLOR.upper() not in colours


def test_render_imports_no_matplotlib():
    code = "import sys, bot.cli.text, bot.present.format, bot.present.chart; sys.exit('matplotlib' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("name", ["vibe_ace", "sugar_plum_fairy", "lets_go_fishin"])
def test_text_names_top_genre_with_percentage(analyses, name):
    a = analyses[name]
    text = analysis_text(a)
    top, share = next(iter(a.genres.items()))
    pattern = rf"^  {re.escape(display_name(top))} +[█▉▊▋▌▍▎▏]+ +{format_share(share)}$"
    assert re.search(pattern, text, re.M), text
    assert text.splitlines()[0] == name
    assert f"analyzed all {a.coverage.segments} segments" in text
    assert a.model_version in text
    total = a.timings_ms["total"]
    assert (f"total {total:.0f} ms" if total < 1000 else f"total {total / 1000:.2f} s") in text


def test_known_top_genres(analyses):
    # What the fixtures are; if the models change this is the first test to look at.
    assert analyses["vibe_ace"].top_genre == "electronic" and "jazz" in list(analyses["vibe_ace"].genres)[:5]
    assert analyses["sugar_plum_fairy"].top_genre == "classical"


@pytest.mark.parametrize("name", ["vibe_ace", "sugar_plum_fairy", "lets_go_fishin"])
def test_text_tempo_key_and_descriptor_lines(analyses, name):
    a = analyses[name]
    d = a.descriptors
    text = analysis_text(a)
    (tempo,) = lines_of(text, "Tempo")
    (key,) = lines_of(text, "Key")
    if d.tempo_bpm is None:
        assert tempo.endswith("no steady beat")
    else:
        words = tempo.split()[1:]
        assert words[:2] == [str(round(d.tempo_bpm)), "BPM" + ("," if d.tempo_alternative_bpm else "")]
        assert words[-2:] == ["(confidence", f"{d.tempo_confidence:.2f})"]
        if d.tempo_alternative_bpm:
            assert words[2:4] == ["or", str(round(d.tempo_alternative_bpm))]
    if d.key is None:
        assert key.endswith("no clear key")
    else:
        # "Key          E major · relative of C# minor · 12B (confidence 0.61)"
        assert key.split(None, 1)[1] == (
            f"{d.key_name} · relative of {d.relative_key} · {d.camelot} "
            f"(confidence {d.key_confidence:.2f})"
        )
        tonic, mode = key.split()[1:3]
        sharps = {"Db": "C#", "Eb": "D#", "Ab": "G#", "Bb": "A#"}
        assert (sharps.get(tonic, tonic), mode) == (d.key, d.mode)
    assert lines_of(text, "Loudness")[0].split()[1:] == [f"{d.loudness_db:.1f}", "dBFS"]
    assert lines_of(text, "Brightness")[0].split()[1:] == [f"{d.brightness_hz:.0f}", "Hz"]


def test_text_shows_strong_tags_only(analyses):
    a = analyses["lets_go_fishin"]
    text = analysis_text(a)
    (vocals,) = lines_of(text, "Vocals")
    (era,) = lines_of(text, "Era")
    top_vocal, p = next(iter(a.tags["vocals"].items()))
    assert p >= 0.10 and f"{top_vocal} {format_share(p)}" in vocals
    if max(a.tags["era"].values()) < 0.10:
        assert era.split()[1:] == ["no", "clear", "era"]
    for line in lines_of(text, "Mood") + lines_of(text, "Instruments"):
        assert line.count("·") <= 2  # at most three tags


def test_timeline_strip_one_character_per_segment(analyses):
    a = analyses["vibe_ace"]
    lines = analysis_text(a).splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("Timeline"))
    strip = lines[i + 1].strip()
    assert len(strip) == a.coverage.segments == len(a.timeline)
    legend = lines[i + 3]
    symbols = dict(re.findall(r"(\S) (\S+)", legend))  # "J jazz   E electronic"
    first_top = max(a.timeline[0].genres, key=a.timeline[0].genres.get)
    assert symbols[strip[0]] == display_name(first_top)
    assert set(strip) <= set(symbols)


def test_not_music_text(analyses):
    a = analyses["not_music_speech"]
    text = analysis_text(a)
    assert "This doesn't sound like music: it sounds like speech." in text
    assert "Genres" not in text and "Timeline" not in text and "Tempo" not in text
    assert not BAR_CHARS & set(text)
    assert lines_of(text, "Loudness") and a.model_version in text
    assert analysis_summary_line(a) == "not music (speech)"
    for reason, words in (("silence", "silent"), ("noise", "noise"), (None, "music.")):
        assert (
            words in analysis_text(dataclasses.replace(a, not_music_reason=reason)).splitlines()[3]
        )


def test_summary_line(analyses):
    a = analyses["vibe_ace"]
    line = analysis_summary_line(a)
    top, share = next(iter(a.genres.items()))
    assert line.startswith(f"{display_name(top)} {format_share(share)}")
    assert "\n" not in line
    d = a.descriptors
    if d.tempo_bpm is not None and d.key is not None:
        assert line.endswith(f", {d.key_name} · {d.camelot}")
        assert f" — {format_tempo(d)}, " in line
    no_beat = dataclasses.replace(a, descriptors=descriptors(tempo_bpm=None, key=None, mode=None))
    assert "—" not in analysis_summary_line(no_beat)


@pytest.mark.parametrize("width", [40, 60, 80, 120])
@pytest.mark.parametrize(
    "case", ["vibe_ace", "lets_go_fishin", "not_music_speech", "many", "sampled", "single", "one"]
)
def test_text_fits_width(analyses, case, width):
    a = _case(analyses, case)
    for color in (False, True):
        text = analysis_text(a, color=color, width=width)
        too_wide = [line for line in text.splitlines() if visible_width(line) > width]
        assert not too_wide, "\n".join(too_wide)


def test_color_only_adds_escapes(analyses):
    for a in (
        analyses["lets_go_fishin"],
        analyses["not_music_speech"],
        sampled(analyses["vibe_ace"]),
    ):
        plain = analysis_text(a)
        colored = analysis_text(a, color=True)
        assert "\x1b[" not in plain and "\x1b[" in colored
        assert strip_ansi(colored) == plain


def test_title_cannot_inject_terminal_escapes(analyses):
    a = dataclasses.replace(analyses["vibe_ace"], title="evil\x1b]0;pwned\x07\x1b[2Jtitle\nnext")
    text = analysis_text(a)
    assert "\x1b" not in text and "\x07" not in text
    assert text.splitlines()[0].startswith("evil") and "next" in text.splitlines()[0]


def test_edge_cases_text(analyses):
    base = analyses["lets_go_fishin"]
    many = analysis_text(many_segments(base))
    assert "analyzed all 500 segments" in many and "each character ≈" in many
    one = analysis_text(one_genre(base))
    assert re.search(r"^  reggae +█+ +100%$", one, re.M) and "other" not in one
    single = analysis_text(single_segment(base))
    assert "analyzed 1 segment" in single
    samp = sampled(base)
    text = analysis_text(samp)
    assert "sampled 100 of 501 segments in 10 windows" in text
    lines = text.splitlines()
    strip = lines[next(i for i, line in enumerate(lines) if line.startswith("Timeline")) + 1]
    assert len(strip.split()) == 10  # one group per window, gaps between
    assert analysis_summary_line(one_genre(base)).startswith("reggae 100%")


def test_chart_genres_limits_and_keeps_leaders(analyses):
    a = many_segments(analyses["lets_go_fishin"])
    shown = chart_genres(a)
    assert 1 <= len(shown) <= 6 and shown[0] == a.top_genre
    assert shown == sorted(shown, key=lambda g: -a.genres[g])
    assert chart_genres(one_genre(a, "disco")) == ["disco"]


# --------------------------------------------------------------------------- chart


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def decode(data: bytes) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(data), format="png")[..., :3]


def near(img: np.ndarray, hex_color: str, tol: float = 0.03) -> np.ndarray:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.all(np.abs(img - rgb) <= tol, axis=-1)


def _case(analyses: dict[str, Analysis], case: str) -> Analysis:
    base = analyses["lets_go_fishin"]
    makers = {"many": many_segments, "sampled": sampled, "single": single_segment, "one": one_genre}
    return makers[case](base) if case in makers else analyses[case]


@pytest.mark.parametrize("name", ["vibe_ace", "sugar_plum_fairy", "lets_go_fishin"])
def test_chart_png(analyses, name):
    a = analyses[name]
    data = genre_timeline_png(a)
    assert png_size(data) == (1000, 420)
    img = decode(data)
    assert img.shape == (420, 1000, 3)
    assert img.std() > 0.1  # not a blank card
    legend = img[:, 810:]  # the legend column, right of the plot
    for genre in chart_genres(a):
        assert near(legend, GENRE_COLORS[genre]).sum() > 50, f"no {genre} swatch in the legend"
    plot = img[100:360, 80:800]
    assert (
        near(plot, GENRE_COLORS[a.top_genre]).mean() > 0.2
    )  # the top genre fills much of the plot


@pytest.mark.parametrize("size", [(640, 300), (1600, 700), (400, 240)])
def test_chart_size(analyses, size):
    data = genre_timeline_png(
        analyses["vibe_ace"], width_px=size[0], height_px=size[1], title="Custom title"
    )
    assert png_size(data) == size
    assert decode(data).shape == (size[1], size[0], 3)


@pytest.mark.parametrize("case", ["many", "sampled", "single", "one"])
def test_chart_edge_cases(analyses, case):
    a = _case(analyses, case)
    data = genre_timeline_png(a)
    assert png_size(data) == (1000, 420)
    img = decode(data)
    colour = near(img[100:360, 80:800], GENRE_COLORS[a.top_genre]).mean()
    assert colour > (0.01 if case == "sampled" else 0.2)


def test_chart_shows_sampling_gaps(analyses):
    """Between the analyzed windows of a sampled track the plot shows no genre colour."""
    full, samp = analyses["lets_go_fishin"], sampled(analyses["lets_go_fishin"])
    shown = chart_genres(samp)

    def coloured_share(data: bytes) -> float:
        row = decode(data)[240, 60:808]  # a row across the middle of the plot
        return float(np.mean(np.any([near(row, GENRE_COLORS[g]) for g in shown], axis=0)))

    assert coloured_share(genre_timeline_png(full)) > 0.7
    assert coloured_share(genre_timeline_png(samp)) < 0.35


def test_chart_not_music_raises(analyses):
    with pytest.raises(ValueError, match="no genre timeline for non-music"):
        genre_timeline_png(analyses["not_music_speech"])


def test_chart_rejects_impossible_sizes(analyses):
    for w, h in ((10, 420), (1000, 10), (100_000, 420)):
        with pytest.raises(ValueError, match="chart size"):
            genre_timeline_png(analyses["vibe_ace"], width_px=w, height_px=h)


def test_chart_awkward_titles_without_warnings(analyses):
    a = analyses["vibe_ace"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for title in (
            "$uicideboy$ - $$$ ^_^ \\frac{1}{2}",
            "夜に駆ける",
            "x" * 300,
            "",
            "tab\there\x1b[31m",
        ):
            assert png_size(genre_timeline_png(a, title=title)) == (1000, 420)


def test_chart_is_deterministic_and_thread_safe(analyses):
    items = [analyses["vibe_ace"], analyses["lets_go_fishin"], sampled(analyses["vibe_ace"])] * 2
    serial = [genre_timeline_png(a) for a in items]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(genre_timeline_png, items))
    assert parallel == serial
