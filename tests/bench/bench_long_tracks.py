"""What the patch budget for long tracks costs in quality: budgeted vs full analysis, side by side.

    .venv/bin/python tests/bench/bench_long_tracks.py [--devset ../shared/data/devset] [--json out.json]

Long recordings: the devset's "weak" songs (64-97 s, evaluation only, never trained on) and two
4-minute-plus tracks made of the bundled fixtures end to end. Each is analyzed twice in process:
with every patch (``max_full_s`` unbounded) and with the default budget (``AnalysisOptions()``).
Reported per track and as medians: top genre and top mood agreement, the total variation
distance between the two genre breakdowns (0 = identical, 1 = disjoint), the cosine between the
two embeddings, and the time each took.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inference.analysis import AnalysisOptions, Analyzer  # noqa: E402
from inference.audio import decode  # noqa: E402
from inference.features import RATE_32K, to_16k  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"
FULL = AnalysisOptions(max_full_s=1e9)


def genre_tv_distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Total variation distance between two genre breakdowns: 0 identical, 1 disjoint."""
    return round(0.5 * sum(abs(a.get(g, 0) - b.get(g, 0)) for g in set(a) | set(b)), 3)


def long_inputs(devset: Path | None) -> dict[str, np.ndarray]:
    """name -> 32 kHz samples."""
    out = {}
    if devset is not None and devset.is_dir():
        for path in sorted(devset.glob("weak_*.mp3")):
            out[path.stem] = decode(path, rate=RATE_32K)[0]
    fx = {n: decode(FIXTURES / f"{n}.ogg", rate=RATE_32K)[0] for n in ("lets_go_fishin", "sugar_plum_fairy", "vibe_ace", "hungarian_dance_5")}
    out["fixtures_country_then_classical_4m"] = np.concatenate([fx["lets_go_fishin"], fx["sugar_plum_fairy"]])
    out["fixtures_jazz_classical_country_4m"] = np.concatenate([fx["vibe_ace"], fx["hungarian_dance_5"], fx["lets_go_fishin"]])
    return out


def devset_and_json_args() -> argparse.Namespace:
    """``--devset`` (default ../shared/data/devset) and ``--json`` (where the report goes)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--devset", type=Path, default=REPO.parent / "shared" / "data" / "devset")
    ap.add_argument("--json", type=Path)
    return ap.parse_args()


def main() -> None:
    args = devset_and_json_args()
    analyzer = Analyzer.load(threads=1)
    budget = AnalysisOptions()
    rows = {}
    for name, x32 in long_inputs(args.devset).items():
        x16 = to_16k(x32)
        t = time.perf_counter()
        full = analyzer.analyze_samples(x16, FULL, samples_32k=x32)
        t_full = time.perf_counter() - t
        t = time.perf_counter()
        part = analyzer.analyze_samples(x16, budget, samples_32k=x32)
        t_part = time.perf_counter() - t
        rows[name] = {
            "duration_s": round(x16.size / 16000, 1),
            "segments_full": full.coverage.segments,
            "segments_budget": part.coverage.segments,
            "top_genre_full": full.top_genre,
            "top_genre_budget": part.top_genre,
            "same_top_genre": full.top_genre == part.top_genre,
            "same_top_mood": full.top_mood == part.top_mood,
            "genre_tv_distance": genre_tv_distance(full.genres, part.genres),
            "embedding_cosine": round(float(full.embedding @ part.embedding), 4),
            "time_full_s": round(t_full, 2),
            "time_budget_s": round(t_part, 2),
        }
        print(name, rows[name], flush=True)
    report = {
        "budget": {"max_full_s": budget.max_full_s, "sample_windows": budget.sample_windows},
        "tracks": rows,
        "same_top_genre": f"{sum(r['same_top_genre'] for r in rows.values())}/{len(rows)}",
        "same_top_mood": f"{sum(r['same_top_mood'] for r in rows.values())}/{len(rows)}",
        "median_genre_tv_distance": statistics.median(r["genre_tv_distance"] for r in rows.values()),
        "median_embedding_cosine": statistics.median(r["embedding_cosine"] for r in rows.values()),
        "median_time_ratio": round(statistics.median(r["time_budget_s"] / r["time_full_s"] for r in rows.values()), 3),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "tracks"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
