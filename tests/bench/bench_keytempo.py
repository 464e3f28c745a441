"""Benchmark key and tempo: MIREX key score and tempo Acc1/Acc2 per set, side by side.

    .venv/bin/python tests/bench/bench_keytempo.py [--shared ../shared] [--baseline 48ead8c]
        [--methods earworm,baseline,librosa,essentia] [--sets rendered,devset] [--json out.json]

Methods, all on the same decoded audio (mono, 16 kHz, as the analysis receives it):

- ``earworm``: ``inference.describe.describe`` (the timing includes the STFT it is given).
- ``baseline``: the same function at git revision ``--baseline`` (default: 48ead8c, before
  issue 8), loaded from ``git show``.
- ``librosa``: the usual librosa recipe: key from the mean ``chroma_cqt`` correlated with the
  Krumhansl-Kessler profiles, tempo from ``librosa.feature.tempo`` (needs the ``keybench`` extra).
- ``essentia``: ``KeyExtractor`` and ``RhythmExtractor2013`` on the audio resampled to 44.1 kHz
  (AGPL: a benchmark-only comparison, ``keybench`` extra; skipped when not installed).

Scores: the MIREX weighted key score (1 same key, 0.5 a fifth above, 0.3 relative, 0.2 parallel;
no key named scores 0), the share of clips with a key named, tempo Acc1 (within 4 %) and Acc2
(within 4 % of 1, 2, 3, 1/2 or 1/3 times the reference). The data: ``keytempo_data.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from keytempo_data import SR, Clip, benchmark_clips  # noqa: E402

from inference.frontend import stft_power  # noqa: E402
from inference.key import key_scores  # noqa: E402
from inference.keys import Key, make_key, mirex_score  # noqa: E402

Estimate = tuple[Key | None, float | None, dict]  # key, tempo, extra fields
TEMPO_TOLERANCE = 0.04
OCTAVE_FACTORS = (1.0, 2.0, 3.0, 0.5, 1 / 3)


def tempo_hits(reference: float, estimate: float | None) -> tuple[bool, bool]:
    """(Acc1, Acc2) for one clip."""
    if not estimate:
        return False, False
    acc1 = abs(estimate - reference) <= TEMPO_TOLERANCE * reference
    acc2 = any(abs(estimate - f * reference) <= TEMPO_TOLERANCE * f * reference for f in OCTAVE_FACTORS)
    return acc1, acc2


# ------------------------------------------------------------------------------------- methods


def _describe_method(describe: Callable) -> Callable[[np.ndarray], Estimate]:
    def run(x: np.ndarray) -> Estimate:
        d = describe(x, stft_power(x))
        extra = {"key_confidence": d.key_confidence, "tempo_confidence": d.tempo_confidence}
        if hasattr(d, "tempo_alternative_bpm"):
            extra["tempo_alternative_bpm"] = d.tempo_alternative_bpm
        return make_key(d.key, d.mode), d.tempo_bpm, extra

    return run


def earworm_method() -> Callable[[np.ndarray], Estimate]:
    from inference.describe import describe

    return _describe_method(describe)


def baseline_method(revision: str) -> Callable[[np.ndarray], Estimate]:
    """``inference/describe.py`` as it was at ``revision``, imported from ``git show``."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:inference/describe.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / f"describe_{revision}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"describe_{revision}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return _describe_method(module.describe)


def librosa_method() -> Callable[[np.ndarray], Estimate] | None:
    try:
        import librosa
    except ImportError:
        return None

    def run(x: np.ndarray) -> Estimate:
        chroma = librosa.feature.chroma_cqt(y=x, sr=SR).mean(axis=1)
        # The usual librosa key recipe: Pearson correlation with the Krumhansl & Kessler (1982)
        # profiles, the best key wins (none for a flat chroma, where no correlation exists).
        scores = key_scores(chroma, "krumhansl")
        mode, tonic = divmod(int(np.argmax(scores)), 12)
        key = Key(tonic, bool(mode)) if scores.any() else None
        tempo = float(librosa.feature.tempo(y=x, sr=SR)[0]) if x.size > 2 * SR else None
        return key, tempo, {}

    return run


def essentia_method() -> Callable[[np.ndarray], Estimate] | None:
    try:
        import essentia.standard as es
    except ImportError:
        return None
    import soxr

    key_extractor = es.KeyExtractor()
    rhythm = es.RhythmExtractor2013(method="multifeature")

    def run(x: np.ndarray) -> Estimate:
        y = soxr.resample(x, SR, 44100).astype(np.float32)
        tonic, scale, strength = key_extractor(y)
        key = make_key(tonic, scale)
        bpm = float(rhythm(y)[0]) if y.size > 2 * 44100 else None
        return key, bpm or None, {"key_strength": float(strength)}

    return run


# ------------------------------------------------------------------------------------- scoring


def summarise(rows: list[dict], methods: list[str]) -> dict:
    """Per set and method: clip counts, MIREX score, key coverage, Acc1/Acc2, median time."""
    out: dict = {}
    sets = list(dict.fromkeys(r["set"] for r in rows))
    groups = {s: [r for r in rows if r["set"] == s] for s in sets}
    groups["rendered+shifted"] = [r for r in rows if r["set"] in ("rendered", "shifted")]
    groups["real (all)"] = [r for r in rows if r["set"] not in ("rendered", "shifted")]
    groups["real, 5 s and longer"] = [r for r in rows if r["set"] in ("devset", "fixtures", "gtzan-classical")]
    for name, group in groups.items():
        entry: dict = {}
        for m in methods:
            keyed = [r for r in group if r["ref_key"] and m in r["methods"]]
            timed = [r for r in group if r["ref_tempo"] and m in r["methods"]]
            res: dict = {}
            if keyed:
                scores = [r["methods"][m]["mirex"] for r in keyed]
                res["key_clips"] = len(keyed)
                res["mirex"] = round(float(np.mean(scores)), 3)
                res["key_named"] = round(float(np.mean([r["methods"][m]["key"] is not None for r in keyed])), 3)
                res["key_exact"] = round(float(np.mean([s == 1.0 for s in scores])), 3)
                named = [r["methods"][m] for r in keyed if r["methods"][m]["key"] is not None]
                if named and "key_confidence" in named[0]:
                    # Calibration: the mean confidence of the keys named vs how many are exact.
                    res["key_confidence_mean"] = round(float(np.mean([x["key_confidence"] for x in named])), 3)
                    res["key_exact_of_named"] = round(float(np.mean([x["mirex"] == 1.0 for x in named])), 3)
            if timed:
                res["tempo_clips"] = len(timed)
                res["acc1"] = round(float(np.mean([r["methods"][m]["acc1"] for r in timed])), 3)
                res["acc2"] = round(float(np.mean([r["methods"][m]["acc2"] for r in timed])), 3)
                if "tempo_alternative_bpm" in timed[0]["methods"][m]:
                    alts = [(r["ref_tempo"], r["methods"][m]) for r in timed]
                    res["tempo_alt_named"] = round(float(np.mean([x["tempo_alternative_bpm"] is not None for _, x in alts])), 3)
                    # Acc1 counting either reading: how often the beat people annotate is named.
                    res["acc1_either"] = round(float(np.mean([
                        x["acc1"] or tempo_hits(ref, x["tempo_alternative_bpm"])[0] for ref, x in alts
                    ])), 3)  # fmt: skip
            times = [r["methods"][m]["ms"] for r in group if m in r["methods"]]
            if times:
                res["median_ms"] = round(statistics.median(times), 1)
            entry[m] = res
        out[name] = entry
    return out


def table(summary: dict) -> str:
    """The summary as a Markdown table (one row per set and method)."""
    lines = [
        "| set | method | key clips | MIREX | key named | exact | confidence (mean) | tempo clips | Acc1 | Acc2 | Acc1, either reading | median ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    columns = ("key_clips", "mirex", "key_named", "key_exact", "key_confidence_mean", "tempo_clips", "acc1", "acc2", "acc1_either", "median_ms")
    for name, entry in summary.items():
        for m, r in entry.items():
            cells = [r.get(k, "") for k in columns]
            lines.append(f"| {name} | {m} | " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--baseline", default="48ead8c", help="git revision of the old describe()")
    parser.add_argument("--methods", default="earworm,baseline,librosa,essentia")
    parser.add_argument("--sets", default="", help="comma-separated subset of the sets (default all)")
    parser.add_argument("--json", type=Path, help="write the summary and every clip's results here")
    parser.add_argument("--summarise", type=Path, help="only re-summarise a --json file of an earlier run")
    args = parser.parse_args()
    if args.summarise:
        saved = json.loads(args.summarise.read_text())
        rows = saved["clips"]
        print(table(summarise(rows, list(dict.fromkeys(m for r in rows for m in r["methods"])))))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    factories = {
        "earworm": earworm_method,
        "baseline": lambda: baseline_method(args.baseline),
        "librosa": librosa_method,
        "essentia": essentia_method,
    }
    methods: dict[str, Callable] = {}
    for name in args.methods.split(","):
        fn = factories[name]()
        if fn is None:
            print(f"skipping {name}: not installed (pip install -e '.[keybench]')", file=sys.stderr)
        else:
            methods[name] = fn

    clips: list[Clip] = benchmark_clips(args.shared)
    if args.sets:
        wanted = set(args.sets.split(","))
        clips = [c for c in clips if c.set in wanted]
    rows = []
    for i, clip in enumerate(clips):
        x = clip.load()
        row = {
            "clip": clip.name, "set": clip.set, "seconds": round(x.size / SR, 2),
            "ref_key": clip.key.name if clip.key else None, "ref_tempo": clip.tempo_bpm, "methods": {},
        }  # fmt: skip
        for name, fn in methods.items():
            fn(x[: SR // 2])  # warm caches (filter tables, JIT) outside the timing
            t = time.perf_counter()
            key, tempo, extra = fn(x)
            ms = (time.perf_counter() - t) * 1000
            res = {"key": key.name if key else None, "tempo": None if tempo is None else round(tempo, 2), "ms": round(ms, 1), **extra}
            if clip.key:
                res["mirex"] = mirex_score(clip.key, key)
            if clip.tempo_bpm:
                res["acc1"], res["acc2"] = tempo_hits(clip.tempo_bpm, tempo)
            row["methods"][name] = res
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(clips)} clips", file=sys.stderr)
    summary = summarise(rows, list(methods))
    report = {"machine": f"{os.cpu_count()} cores", "baseline": args.baseline, "summary": summary}
    print(table(summary))
    if args.json:
        args.json.write_text(json.dumps({**report, "clips": rows}, indent=1))


if __name__ == "__main__":
    main()
