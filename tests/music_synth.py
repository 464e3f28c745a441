"""Render short songs in a known key and tempo, in numpy: chords, bass, melody and drums.

Used by the key/tempo unit tests and by the key/tempo benchmark (``tests/bench/keytempo_data.py``)
so both hear the same kind of music. Deterministic for a given :class:`SongSpec` (its seed).

A song is a diatonic chord progression (one chord per bar of 4 beats) voiced in the middle
register, a bass line on the roots (with the fifth on beat 3), a melody of chord and scale tones
in eighth and quarter notes that leans on the tonic, and a drum pattern. Minor keys use the
harmonic-minor dominant (V major) as real music does. The whole mix can be detuned by a few
cents to exercise tuning estimation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SR = 16000
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# Progressions as scale degrees (0 = I/i), each one bar long.
MAJOR_PROGRESSIONS = ((0, 3, 4, 0), (0, 4, 5, 3), (1, 4, 0, 0), (0, 5, 3, 4), (0, 3, 0, 4))
MINOR_PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 2, 6), (0, 6, 5, 4), (0, 3, 6, 2), (0, 5, 3, 4))
INSTRUMENTS = ("piano", "organ", "pluck", "strings", "synth")
DRUMS = ("none", "rock", "four", "halftime", "shuffle")


@dataclass(frozen=True)
class SongSpec:
    tonic: int  # pitch class of the key, 0 = C
    minor: bool
    bpm: float
    progression: tuple[int, ...] = (0, 3, 4, 0)
    instrument: str = "piano"
    drums: str = "rock"
    seconds: float = 20.0
    tuning_cents: float = 0.0
    seed: int = 0


def _freq(midi: float, cents: float) -> float:
    return 440.0 * 2 ** ((midi - 69 + cents / 100) / 12)


def _tone(midi: float, seconds: float, instrument: str, cents: float, rng: np.random.Generator) -> np.ndarray:
    """One note of ``instrument``: a sum of harmonics under an envelope, [n] float64."""
    n = max(1, int(seconds * SR))
    t = np.arange(n) / SR
    f0 = _freq(midi, cents)
    if instrument == "piano":
        amps, decay, attack = [0.9**h / h for h in range(1, 9)], 2.5, 0.005
    elif instrument == "organ":
        amps, decay, attack = [1.0, 0.8, 0.5, 0.6, 0.0, 0.4, 0.0, 0.3], 0.0, 0.01
    elif instrument == "pluck":
        amps, decay, attack = [1.0 / h for h in range(1, 11)], 4.0, 0.002
    elif instrument == "strings":
        amps, decay, attack = [1.0 / h for h in range(1, 13)], 0.3, 0.08
    else:  # synth: square-ish, odd harmonics
        amps, decay, attack = [1.0 / h if h % 2 else 0.0 for h in range(1, 12)], 1.0, 0.01
    vibrato = 1 + (0.003 * np.sin(2 * np.pi * 5.5 * t) if instrument == "strings" else 0.0)
    phase = 2 * np.pi * f0 * np.cumsum(np.broadcast_to(vibrato, t.shape)) / SR
    x = np.zeros(n)
    for h, a in enumerate(amps, start=1):
        if a and f0 * h < 0.45 * SR:
            # Higher partials of plucked and struck strings die faster.
            partial_decay = np.exp(-decay * (1 + 0.3 * (h - 1)) * t) if decay else 1.0
            x += a * partial_decay * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    env = np.minimum(1.0, t / attack)
    release = int(0.02 * SR)
    env[-release:] *= np.linspace(1, 0, min(release, n))
    return x * env


def _chord(degree: int, minor: bool) -> list[int]:
    """Semitones above the tonic of the triad on ``degree`` (root first)."""
    scale = MINOR_SCALE if minor else MAJOR_SCALE
    notes = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
    if minor and degree == 4:
        notes[1] += 1  # the leading tone: V is major in minor keys
    return notes


def _drum_hits(kind: str, bpm: float, seconds: float) -> list[tuple[float, str]]:
    """(time in s, "kick" | "snare" | "hat") for a drum pattern."""
    beat = 60.0 / bpm
    hits: list[tuple[float, str]] = []
    n_beats = int(seconds / beat)
    for b in range(n_beats):
        t = b * beat
        pos = b % 4
        if kind == "rock":
            hits += [(t, "kick")] if pos in (0, 2) else [(t, "snare")]
            hits += [(t, "hat"), (t + beat / 2, "hat")]
        elif kind == "four":
            hits += [(t, "kick"), (t + beat / 2, "hat")] + ([(t, "snare")] if pos in (1, 3) else [])
        elif kind == "halftime":
            hits += [(t, "kick")] if pos == 0 else [(t, "snare")] if pos == 2 else []
            hits += [(t, "hat"), (t + beat / 2, "hat")]
        elif kind == "shuffle":
            hits += [(t, "kick")] if pos in (0, 2) else [(t, "snare")]
            hits += [(t, "hat"), (t + 2 * beat / 3, "hat")]
    return [(t, k) for t, k in hits if t < seconds - 0.2]


def _drum(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "kick":
        t = np.arange(int(0.25 * SR)) / SR
        f = 50 + 90 * np.exp(-t / 0.03)
        return 1.2 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / 0.08)
    if kind == "snare":
        t = np.arange(int(0.18 * SR)) / SR
        return (0.6 * rng.standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.04)
    t = np.arange(int(0.05 * SR)) / SR
    return 0.25 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t / 0.012)


def render_drums(kind: str, bpm: float, seconds: float, seed: int = 0) -> np.ndarray:
    """A drum pattern alone (nothing pitched), mono float32 at 16 kHz, peak 0.5."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR) + SR)
    for t, hit in _drum_hits(kind, bpm, seconds):
        x = _drum(hit, rng)
        i = int(t * SR)
        out[i : i + x.size] += x[: out.size - i]
    x = out[: int(seconds * SR)] + 1e-3 * rng.standard_normal(int(seconds * SR))
    return (0.5 * x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)


def render_noise(color: str, seconds: float, seed: int = 0) -> np.ndarray:
    """White, pink (1/f) or brown (1/f²) noise, mono float32 at 16 kHz, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    spec *= {"white": 1.0, "pink": f**-0.5, "brown": 1.0 / f}[color]
    x = np.fft.irfft(spec, n)
    return (0.5 * x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)


def render_song(spec: SongSpec) -> np.ndarray:
    """The song as mono float32 at 16 kHz, peak 0.5."""
    rng = np.random.default_rng(spec.seed)
    n = int(spec.seconds * SR)
    out = np.zeros(n + SR)
    beat = 60.0 / spec.bpm
    bar = 4 * beat
    scale = MINOR_SCALE if spec.minor else MAJOR_SCALE
    base = 60 + spec.tonic - (12 if spec.tonic > 5 else 0)  # tonic between F#3 and F4
    cents = spec.tuning_cents

    def add(start_s: float, x: np.ndarray, gain: float) -> None:
        i = int(start_s * SR)
        if i < out.size:
            seg = x[: out.size - i]
            out[i : i + seg.size] += gain * seg

    n_bars = int(np.ceil(spec.seconds / bar))
    for b in range(n_bars):
        degree = spec.progression[b % len(spec.progression)]
        chord = _chord(degree, spec.minor)
        t0 = b * bar
        # Chord: sustained for pads, re-struck on each beat for piano and pluck.
        strikes = [0.0] if spec.instrument in ("organ", "strings") else [0.0, 2 * beat]
        for s in strikes:
            length = bar - s if len(strikes) == 1 else 2 * beat
            for note in chord:
                add(t0 + s, _tone(base + note, length, spec.instrument, cents, rng), 0.25)
        # Bass: the root on beats 1-2, the fifth on beats 3-4, two octaves down.
        root = base - 24 + chord[0]
        add(t0, _tone(root, 2 * beat, "pluck", cents, rng), 0.5)
        add(t0 + 2 * beat, _tone(root + 7, 2 * beat, "pluck", cents, rng), 0.4)
        # Melody: chord tones on strong eighths, scale steps between, the tonic to close.
        t = 0.0
        while t < bar - 1e-9:
            step = beat if rng.random() < 0.5 else beat / 2
            if t == 0.0 and b % len(spec.progression) == 0:
                pitch = 12  # the tonic, an octave up, opens each cycle
            elif t % beat == 0:
                pitch = 12 + chord[int(rng.integers(0, 3))]
            else:
                pitch = 12 + scale[int(rng.integers(0, 7))]
            add(t0 + t, _tone(base + pitch, step, spec.instrument, cents, rng), 0.35)
            t += step
    for t, kind in _drum_hits(spec.drums, spec.bpm, spec.seconds):
        add(t, _drum(kind, rng), 0.5)
    x = out[:n]
    x += 1e-3 * rng.standard_normal(n)  # a little room noise
    return (0.5 * x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)


def song_specs(count: int, seed: int = 2024) -> list[SongSpec]:
    """``count`` varied songs: every key in turn (major and minor alternate), tempi from 60 to
    180 BPM, and an instrument, drum pattern and progression drawn independently (seeded), tuned
    within +-40 cents of A440."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(count):
        minor = bool(i % 2)
        tonic = ((i // 2) * 7 + i // 24) % 12  # all 24 keys in each run of 24 songs
        progs = MINOR_PROGRESSIONS if minor else MAJOR_PROGRESSIONS
        specs.append(
            SongSpec(
                tonic=tonic,
                minor=minor,
                bpm=float(np.round(rng.uniform(60, 180), 1)),
                progression=progs[int(rng.integers(len(progs)))],
                instrument=INSTRUMENTS[int(rng.integers(len(INSTRUMENTS)))],
                drums=DRUMS[int(rng.integers(len(DRUMS)))],
                seconds=float(rng.uniform(20, 30)),
                tuning_cents=float(np.round(rng.uniform(-40, 40), 1)),
                seed=int(rng.integers(1 << 31)),
            )
        )
    return specs
