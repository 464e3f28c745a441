"""Per-patch features of every clip in a labelled folder, computed by the RUNTIME code.

    .venv/bin/python models/extract_features.py --root ../shared/data/train \
        --labels ../shared/data/train/labels.csv --out /tmp/earworm-features/train

Each clip is decoded, cut into patches and run through both models exactly as
``inference.analysis`` does (``inference.features.patch_features``), with every patch run (the
silence gate is applied later, by the training script, with the runtime's own function). One
``.npz`` per clip under ``--out`` (named by the sha1 of its relative path), so an interrupted run
resumes where it stopped; each records :func:`features_version`, and a clip cached under other models
is extracted again. One thread per model; ``--shard 1/2`` and ``--shard 2/2`` in two
processes share the clips (the 1,836 training clips took 11 minutes so on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.analysis import features_version as _features_version  # noqa: E402
from inference.audio import AudioLimits, decode  # noqa: E402
from inference.features import RATE_32K, patch_features, to_16k  # noqa: E402
from inference.models import ModelSet  # noqa: E402

LIMITS = AudioLimits(min_duration_s=0.5)


def cache_name(relpath: str) -> str:
    return hashlib.sha1(relpath.encode()).hexdigest()[:16] + ".npz"


@cache
def features_version() -> str:
    """:func:`inference.analysis.features_version` of the shipped models, computed once. Each cached
    clip records it, so a cache written under other models (before the taps, or before loudness
    normalisation) is extracted again instead of being read as current."""
    return _features_version()


def is_current(path: Path) -> bool:
    """A cached clip extracted by the models and constants of today (:func:`features_version`)."""
    if not path.exists():
        return False
    with np.load(path) as z:
        return "features_version" in z.files and str(z["features_version"]) == features_version()


def extract_one(models: ModelSet, path: Path) -> dict[str, np.ndarray]:
    x32, _ = decode(path, LIMITS, rate=RATE_32K)
    x16 = to_16k(x32)
    feats, _audio, _t = patch_features(models, x32, x16, [(0, x16.size)])
    return {
        "start_s": feats.start_s, "level_db": feats.level_db, "musicnn": feats.musicnn,
        "mean_pool": feats.mean_pool, "max_pool": feats.max_pool, "msd": feats.msd, "mtt": feats.mtt, "audioset": feats.audioset,
        "audioset_emb": feats.audioset_emb, "audioset_taps": feats.audioset_taps, "duration_s": np.float64(x16.size / 16000),
        "features_version": np.str_(features_version()),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="folder the labels' file column is relative to")
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows (tests)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shard", default="1/1", help="K/N: only every N-th clip from the K-th (parallel runs)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.labels, newline="") as fh:
        files = [r["file"] for r in csv.DictReader(fh)][: args.limit]
    k, n = (int(v) for v in args.shard.split("/"))
    files = files[k - 1 :: n]
    models = ModelSet(threads=args.threads)
    t0, done, failed = time.perf_counter(), 0, 0
    for i, rel in enumerate(files):
        target = args.out / cache_name(rel)
        if is_current(target):
            continue
        try:
            arrays = extract_one(models, args.root / rel)
        except Exception as exc:  # report and go on: one bad clip must not stop hours of work
            print(f"FAILED {rel}: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        tmp = target.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(target)
        done += 1
        if done % 25 == 0:
            rate = done / (time.perf_counter() - t0)
            print(f"{i + 1}/{len(files)} ({rate:.1f} clips/s)", file=sys.stderr, flush=True)
    print(f"extracted {done}, failed {failed}, in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
