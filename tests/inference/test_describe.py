"""inference.describe: tempo, key, loudness and brightness on synthetic and real recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.audio import decode
from inference.describe import describe
from inference.frontend import stft_power
from inference.keys import Key, make_key
from inference.result import Descriptors
from tests.music_synth import SongSpec, render_drums, render_noise, render_song

SR = 16000


def _describe(x: np.ndarray) -> Descriptors:
    x = np.asarray(x, dtype=np.float32)
    return describe(x, stft_power(x))


def _clicks(bpm: float, seconds: float = 20.0, level: float = 0.5, seed: int = 0) -> np.ndarray:
    """A drum-machine-like click track: decaying noise bursts, accented on each bar's first beat."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * SR), dtype=np.float32)
    n = 800
    envelope = np.exp(-np.arange(n) / 120.0)
    period = 60.0 / bpm
    for i, t in enumerate(np.arange(0.1, seconds - 0.1, period)):
        start = int(round(t * SR))
        burst = rng.standard_normal(n) * envelope * (1.0 if i % 4 == 0 else 0.6)
        x[start : start + n] += burst[: x.size - start].astype(np.float32)
    return level * x / np.max(np.abs(x))


def _note(midi: int, seconds: float, a4: float = 440.0) -> np.ndarray:
    """A piano-ish tone: six harmonics with falling amplitude, exponential decay."""
    f0 = a4 * 2 ** ((midi - 69) / 12)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(
        0.6**h * np.sin(2 * np.pi * f0 * (h + 1) * t) for h in range(6) if f0 * (h + 1) < SR / 2
    )
    return x * np.exp(-1.5 * t)


def _progression(chords: list[list[int]], a4: float = 440.0, repeats: int = 4) -> np.ndarray:
    bars = [sum(_note(m, 1.0, a4) for m in chord) / len(chord) for chord in chords]
    return (0.5 * np.concatenate(bars * repeats)).astype(np.float32)


def _sine(freq: float, amp: float = 0.5, seconds: float = 5.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


C_MAJOR = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [48, 60, 64, 67]]  # I IV V I
A_MINOR = [[45, 57, 60, 64], [50, 57, 62, 65], [52, 56, 59, 64], [45, 57, 60, 64]]  # i iv V i


# ---------------------------------------------------------------------------------------------
# Tempo


@pytest.mark.parametrize("bpm", [70, 90, 120, 140, 174])
def test_click_track_tempo(bpm: float) -> None:
    d = _describe(_clicks(bpm))
    # Within 2 BPM of the true tempo: half or double tempo fails.
    assert d.tempo_bpm == pytest.approx(bpm, abs=2.0)
    assert d.tempo_confidence > 0.4
    if bpm <= 120:  # a steady pulse at a comfortable tempo: sure, and no second reading
        assert d.tempo_confidence > 0.8 and d.tempo_alternative_bpm is None


def test_fast_click_track_also_names_half_time() -> None:
    # 174 BPM (drum & bass) is often felt at half time: both readings are given, each less sure.
    d = _describe(_clicks(174))
    assert d.tempo_bpm == pytest.approx(174, abs=2.0)
    assert d.tempo_alternative_bpm == pytest.approx(87, abs=1.0)
    assert d.tempo_confidence < _describe(_clicks(120)).tempo_confidence


def test_tempo_does_not_depend_on_level_or_length() -> None:
    quiet = _describe(_clicks(120, level=0.005)).tempo_bpm
    short = _describe(_clicks(120, seconds=8.0)).tempo_bpm
    long = _describe(_clicks(120, seconds=120.0)).tempo_bpm
    for bpm in (quiet, short, long):
        assert bpm == pytest.approx(120, abs=1.0)


def test_click_tempo_is_precise_between_frames() -> None:
    # 128 BPM is 29.3 frames per beat: the estimate must not snap to a whole-frame period
    # (29 frames = 129.3 BPM, 30 = 125 BPM).
    assert _describe(_clicks(128, seconds=30.0)).tempo_bpm == pytest.approx(128, abs=0.5)


def test_silence_has_no_tempo_or_key() -> None:
    d = _describe(np.zeros(10 * SR, dtype=np.float32))
    assert d.tempo_bpm is None and d.tempo_confidence == 0.0
    assert d.key is None and d.mode is None and d.key_confidence == 0.0
    assert d.loudness_db <= -100 and d.brightness_hz == 0.0


def test_white_noise_has_no_tempo_and_no_confident_key() -> None:
    rng = np.random.default_rng(3)
    for seconds in (5, 30):
        d = _describe(0.1 * rng.standard_normal(seconds * SR))
        assert d.tempo_bpm is None
        assert d.key is None or d.key_confidence < 0.1


def test_too_short_for_tempo() -> None:
    d = _describe(_clicks(120, seconds=2.0))
    assert d.tempo_bpm is None and d.duration_s == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------
# Key


def test_c_major_progression() -> None:
    d = _describe(_progression(C_MAJOR))
    assert (d.key, d.mode) == ("C", "major") and d.key_confidence > 0.5
    assert (d.key_name, d.relative_key, d.camelot) == ("C major", "A minor", "8B")


def test_a_minor_progression() -> None:
    d = _describe(_progression(A_MINOR))
    assert (d.key, d.mode) == ("A", "minor") and d.key_confidence > 0.3
    assert (d.key_name, d.relative_key, d.camelot) == ("A minor", "C major", "8A")


@pytest.mark.parametrize("shift, name", [(1, "C#"), (6, "F#"), (10, "A#")])
def test_transposed_progressions_use_sharp_names(shift: int, name: str) -> None:
    d = _describe(_progression([[m + shift for m in chord] for chord in C_MAJOR]))
    assert (d.key, d.mode) == (name, "major")


def test_detuned_recording_keeps_its_key() -> None:
    # A4 = 452 Hz is 47 cents sharp: without tuning compensation half the notes would round up.
    d = _describe(_progression(C_MAJOR, a4=452.0))
    assert (d.key, d.mode) == ("C", "major")


def test_c_major_scale() -> None:
    notes = [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60]
    d = _describe(np.concatenate([_note(m, 0.4) for m in notes]).astype(np.float32))
    assert (d.key, d.mode) == ("C", "major")


def test_unpitched_clicks_have_no_key() -> None:
    d = _describe(_clicks(120))
    assert d.key is None and d.key_confidence == 0.0


# Rendered songs (tests/music_synth.py): chords, bass, melody and drums in a known key and tempo.
SONGS = [
    SongSpec(tonic=2, minor=False, bpm=96.0, progression=(0, 4, 5, 3), instrument="piano", drums="rock", seed=1),
    SongSpec(tonic=9, minor=True, bpm=128.0, progression=(0, 3, 4, 0), instrument="synth", drums="four", seed=2),
    SongSpec(tonic=6, minor=False, bpm=75.0, progression=(0, 3, 4, 0), instrument="organ", drums="shuffle", seed=3),
    SongSpec(tonic=3, minor=True, bpm=140.0, progression=(0, 6, 5, 4), instrument="pluck", drums="none", seed=4),
    SongSpec(tonic=10, minor=False, bpm=110.0, progression=(0, 3, 0, 4), instrument="strings", drums="rock", tuning_cents=35.0, seed=5),
    SongSpec(tonic=4, minor=True, bpm=88.0, progression=(0, 5, 3, 4), instrument="piano", drums="halftime", tuning_cents=-30.0, seed=6),
]


@pytest.mark.parametrize("spec", SONGS, ids=lambda s: f"{s.tonic}{'m' if s.minor else ''}-{s.instrument}-{s.drums}")
def test_rendered_song_key_and_tempo(spec: SongSpec) -> None:
    d = _describe(render_song(spec))
    assert make_key(d.key, d.mode) == Key(spec.tonic, spec.minor)
    assert d.key_confidence > 0.3
    # The beat or, for half-time drums and unaccompanied lines, a metrical level next to it.
    readings = [d.tempo_bpm, d.tempo_alternative_bpm]
    assert any(t and min(abs(t / f - spec.bpm) for f in (1, 2, 0.5)) <= 0.04 * spec.bpm for t in readings)


def test_key_confidence_is_low_for_noise_and_drums_alone() -> None:
    for x in (render_noise("pink", 12.0), render_drums("four", 124.0, 12.0)):
        d = _describe(x)
        assert d.key is None or d.key_confidence < 0.2


# ---------------------------------------------------------------------------------------------
# Real recordings (tests/fixtures, see LICENSES.md)


def test_solo_trumpet(fixtures_dir: Path) -> None:
    """The licence table says: "jazz trumpet loop, 90 bpm, key of F".

    Tempo: the line moves in eighth notes and its few quarter-note accents are irregular, so
    the onset autocorrelation peaks at the eighth-note pulse (~180 BPM; the 90-BPM lag
    correlates at only ~0.3 against ~0.53). Listeners prefer tempi nearer 120, which makes the
    half time nearly as likely: both are named, and neither with much confidence. Key: F major;
    the line leans on A-flat (a blue third), so the confidence stays moderate.
    """
    samples, _ = decode(fixtures_dir / "solo_trumpet.ogg")
    d = _describe(samples)
    assert d.tempo_bpm == pytest.approx(2 * 90, rel=0.03)
    assert d.tempo_alternative_bpm == pytest.approx(90, rel=0.03)
    assert d.tempo_confidence < 0.6
    assert (d.key, d.mode) == ("F", "major")
    assert d.key_confidence < 0.6
    assert d.duration_s == pytest.approx(5.33, abs=0.05)


@pytest.mark.parametrize(
    "name, key, mode",
    [
        ("sugar_plum_fairy.ogg", "E", "minor"),  # Tchaikovsky wrote it in E minor
        ("hungarian_dance_5.ogg", "G", "minor"),  # the orchestral version is in G minor
    ],
)
def test_real_recordings_key(fixtures_dir: Path, name: str, key: str, mode: str) -> None:
    samples, _ = decode(fixtures_dir / name)
    d = _describe(samples)
    assert (d.key, d.mode) == (key, mode)
    assert d.key_confidence > 0.2


def test_speech_and_birdsong_have_no_tempo(fixtures_dir: Path) -> None:
    from inference.audio import AudioLimits

    for name in ("not_music_speech.ogg", "not_music_robin.ogg"):
        samples, _ = decode(fixtures_dir / name, AudioLimits(min_duration_s=0.5))
        assert _describe(samples).tempo_bpm is None


# ---------------------------------------------------------------------------------------------
# Loudness, brightness, duration


def test_loudness_in_dbfs() -> None:
    full = _describe(_sine(1000.0, amp=1.0)).loudness_db
    half = _describe(_sine(1000.0, amp=0.5)).loudness_db
    assert full == pytest.approx(-3.01, abs=0.02)  # a full-scale sine's RMS
    assert half - full == pytest.approx(-6.02, abs=0.02)


def test_brightness() -> None:
    low = _describe(_sine(200.0)).brightness_hz
    high = _describe(_sine(4000.0)).brightness_hz
    assert high > low
    assert high == pytest.approx(4000, rel=0.05) and low == pytest.approx(200, rel=0.15)


def test_duration_and_types() -> None:
    d = _describe(_clicks(100, seconds=12.5))
    assert d.duration_s == pytest.approx(12.5)
    assert isinstance(d.tempo_bpm, float) and isinstance(d.loudness_db, float)
    assert isinstance(d.brightness_hz, float) and 0.0 <= d.tempo_confidence <= 1.0


def test_empty_input() -> None:
    d = describe(np.zeros(0, dtype=np.float32), np.zeros((0, 257), dtype=np.float32))
    assert d.duration_s == 0.0 and d.tempo_bpm is None and d.key is None


def test_four_minutes_of_music(fixtures_dir: Path) -> None:
    """Speed is measured in tests/bench/bench_analysis.py; here: a 4-minute input works."""
    parts = [decode(fixtures_dir / n)[0] for n in ("lets_go_fishin.ogg", "sugar_plum_fairy.ogg")]
    x = np.concatenate(parts)[: 240 * SR]
    power = stft_power(x)
    describe(x, power)  # warm the cached filter tables
    d = describe(x, power)
    assert d.duration_s == pytest.approx(240.0)
