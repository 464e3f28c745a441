"""The data of the key and tempo benchmark: rendered songs and real annotated clips.

    .venv/bin/python tests/bench/keytempo_data.py [--shared ../shared] [--write DIR]

prints how many clips each set has (and with ``--write`` saves the rendered audio as WAV with a
``manifest.csv``, to listen to). ``bench_keytempo.py`` calls :func:`benchmark_clips`.

Sets (a clip has a reference key, a reference tempo, or both):

- ``rendered``: 96 songs synthesised by ``tests/music_synth.py`` in all 24 keys (4 each),
  60-180 BPM, five instruments, five drum patterns (none, rock, four-on-the-floor, half-time,
  shuffle), tuned up to 40 cents off A440.
- ``shifted``: the free fixtures whose key is documented, pitch-shifted by resampling to other
  keys (tempo scales with the pitch).
- ``gtzan-excerpts``: the 2-3 s GTZAN excerpts in ``../shared/data/train`` with a published key
  (Kraft & Lerch 2013, ``tests/bench/data/gtzan_keys.csv``); too short for tempo.
- ``gtzan-classical``: the first 15 s of GTZAN classical clips in ``../shared/data/train`` with a
  published tempo (Marchand & Peeters 2015, ``tests/bench/data/gtzan_tempi.csv``); GTZAN's key
  annotations leave classical out.
- ``devset``: the devset's GTZAN clips with published tempo and key
  (``../shared/data/devset/annotations.csv``), and four of its 15 s GTZAN excerpts identified in
  ``tests/bench/data/devset_gtzan_ids.csv`` (key only): benchmark only, never tuned on.
- ``fixtures``: solo_trumpet (F major, 90 BPM), hungarian_dance_5 (G minor), sugar_plum_fairy
  (E minor); sources in ``tests/bench/data/README.md``.

Audio is read from ``../shared`` at run time; no recording is committed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inference.keys import PITCH_CLASSES, Key, parse_key  # noqa: E402
from tests.music_synth import SR, render_song, song_specs  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = REPO / "tests" / "fixtures"
RENDERED_SONGS = 96
# Fixture, its documented key, its documented tempo (None: not documented), shifts in semitones.
SHIFTED = (
    ("hungarian_dance_5.ogg", "G minor", None, (-5, -3, -1, 2, 4)),
    ("sugar_plum_fairy.ogg", "E minor", None, (-4, -2, 1, 3, 5)),
    ("solo_trumpet.ogg", "F major", 90.0, (-3, -1, 2, 4)),
)


@dataclass(frozen=True)
class Clip:
    name: str
    set: str
    load: Callable[[], np.ndarray]  # -> mono float32 samples at 16 kHz
    key: Key | None
    tempo_bpm: float | None


def _decode(path: Path) -> np.ndarray:
    from inference.audio import AudioLimits, decode

    return decode(path, AudioLimits(min_duration_s=0.5))[0]


def _shifted(path: Path, semitones: int) -> np.ndarray:
    """The recording played 2^(semitones/12) times faster: every pitch and the tempo move."""
    import soxr

    rate = 2 ** (semitones / 12)
    return soxr.resample(_decode(path), SR * rate, SR).astype(np.float32)


def rendered_clips() -> list[Clip]:
    return [
        Clip(
            f"song{i:03d}-{PITCH_CLASSES[s.tonic]}{'m' if s.minor else ''}-{s.instrument}-{s.drums}",
            "rendered",
            partial(render_song, s),
            Key(s.tonic, s.minor),
            s.bpm,
        )
        for i, s in enumerate(song_specs(RENDERED_SONGS))
    ]


def shifted_clips() -> list[Clip]:
    clips = []
    for name, key_text, bpm, shifts in SHIFTED:
        key = parse_key(key_text)
        assert key is not None
        for k in shifts:
            clips.append(
                Clip(
                    f"{Path(name).stem}{k:+d}",
                    "shifted",
                    partial(_shifted, FIXTURES / name, k),
                    Key((key.tonic + k) % 12, key.minor),
                    None if bpm is None else bpm * 2 ** (k / 12),
                )
            )
    return clips


def _read_table(path: Path, column: str, key_column: str = "clip") -> dict[str, str]:
    with open(path, newline="") as fh:
        return {row[key_column]: row[column] for row in csv.DictReader(fh) if row[column]}


def _train_clip_paths(shared: Path, source: str) -> dict[str, Path]:
    """GTZAN clip id ("blues.00012") -> audio path, for one source of the training set."""
    root = shared / "data" / "train"
    out = {}
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["source"] == source:
                clip = row["origin"].rsplit(":", 1)[-1].rsplit("/", 1)[-1].removesuffix(".wav")
                out[clip] = root / row["file"]
    return out


def real_clips(shared: Path) -> list[Clip]:
    keys = _read_table(DATA / "gtzan_keys.csv", "key")
    tempi = _read_table(DATA / "gtzan_tempi.csv", "tempo_bpm")
    clips = []
    for clip, path in sorted(_train_clip_paths(shared, "gtzan_actcv500_excerpts").items()):
        if clip in keys:
            clips.append(Clip(clip, "gtzan-excerpts", partial(_decode, path), parse_key(keys[clip]), None))
    for clip, path in sorted(_train_clip_paths(shared, "gtzan_inteliEQ_classical15s").items()):
        if clip in tempi:
            clips.append(Clip(clip, "gtzan-classical", partial(_decode, path), None, float(tempi[clip])))
    devset = shared / "data" / "devset"
    with open(devset / "annotations.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            clips.append(
                Clip(
                    row["file"].rsplit(".", 1)[0],
                    "devset",
                    partial(_decode, devset / row["file"]),
                    parse_key(row["key"]),
                    float(row["tempo_bpm"]) if row["tempo_bpm"] else None,
                )
            )
    for file, clip in _read_table(DATA / "devset_gtzan_ids.csv", "clip", key_column="file").items():
        clips.append(Clip(clip, "devset", partial(_decode, devset / file), parse_key(keys[clip]), None))
    for name, key_text, bpm, _ in SHIFTED:
        clips.append(Clip(Path(name).stem, "fixtures", partial(_decode, FIXTURES / name), parse_key(key_text), bpm))
    return clips


def benchmark_clips(shared: Path) -> list[Clip]:
    return rendered_clips() + shifted_clips() + real_clips(shared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--write", type=Path, help="save the rendered and shifted audio here")
    args = parser.parse_args()
    clips = benchmark_clips(args.shared)
    counts = Counter(c.set for c in clips)
    for name, n in counts.items():
        with_key = sum(1 for c in clips if c.set == name and c.key)
        with_tempo = sum(1 for c in clips if c.set == name and c.tempo_bpm)
        print(f"{name:16s} {n:4d} clips, {with_key:4d} with a key, {with_tempo:4d} with a tempo")
    if args.write:
        import soundfile as sf

        args.write.mkdir(parents=True, exist_ok=True)
        with open(args.write / "manifest.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["file", "set", "key", "tempo_bpm"])
            for c in clips:
                if c.set in ("rendered", "shifted"):
                    sf.write(args.write / f"{c.name}.wav", c.load(), SR)
                    out.writerow([f"{c.name}.wav", c.set, c.key.name if c.key else "", c.tempo_bpm or ""])


if __name__ == "__main__":
    main()
