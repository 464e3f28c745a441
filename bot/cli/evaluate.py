"""``earworm eval DIR --labels labels.csv [--where label_set=gtzan] [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from bot.service.engine import AnalysisEngine, EngineConfig, default_workers
from inference.errors import EarwormError
from inference.evaluate import accuracy_report, precision_at_k, timing_summary
from inference.genres import normalise_label


def read_labels(path: Path, where: list[str]) -> list[tuple[str, str]]:
    """(file, label) rows from a CSV with at least the columns file,label."""
    filters = []
    for item in where:
        column, sep, value = item.partition("=")
        if not sep:
            raise EarwormError(f"--where expects COLUMN=VALUE, got {item!r}")
        filters.append((column.strip(), value.strip()))
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "label"} - set(reader.fieldnames or [])
        if missing:
            raise EarwormError(f"{path}: the labels CSV needs the columns file,label (missing: {', '.join(sorted(missing))})")
        for column, _ in filters:
            if column not in (reader.fieldnames or []):
                raise EarwormError(f"{path}: no column {column!r} to filter on")
        return [(r["file"], r["label"]) for r in reader if all(r[c] == v for c, v in filters)]


async def analyze_all(directory: Path, rows: list[tuple[str, str]], workers: int):
    config = EngineConfig(workers=workers, max_queue=max(32, len(rows)))
    async with AnalysisEngine(config) as engine:
        return await asyncio.gather(*(engine.analyze(directory / f) for f, _ in rows), return_exceptions=True)


def run_eval(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    rows = read_labels(Path(args.labels), args.where)
    if not rows:
        raise EarwormError("no rows to evaluate (check --labels and --where)")
    t0 = time.perf_counter()
    results = asyncio.run(analyze_all(directory, rows, args.workers or default_workers()))
    wall = time.perf_counter() - t0

    ok = [(f, normalise_label(label), r) for (f, label), r in zip(rows, results, strict=True) if not isinstance(r, BaseException)]
    failed = {f: str(r) for (f, _), r in zip(rows, results, strict=True) if isinstance(r, BaseException)}
    labels = [label for _, label, _ in ok]
    report = {
        "n": len(ok),
        **accuracy_report(labels, [r.genres for _, _, r in ok]),
        "precision_at_k": precision_at_k(np.stack([r.embedding for _, _, r in ok]) if ok else np.zeros((0, 1)), labels),
        "not_music": sorted(f for f, _, r in ok if not r.is_music),
        "failed": failed,
        "timing": timing_summary([r.timings_ms for _, _, r in ok], wall),
        "model_version": ok[0][2].model_version if ok else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"n={report['n']}  accuracy={report['accuracy']}  accuracy_open={report['accuracy_open']}  " + "  ".join(f"{k}={v}" for k, v in report["precision_at_k"].items()))
        for label, stats in report["per_label"].items():
            print(f"  {label:12s} n={stats['n']:3d}  accuracy={stats['accuracy']}")
        for f, err in failed.items():
            print(f"  failed: {f}: {err}", file=sys.stderr)
    return 0
