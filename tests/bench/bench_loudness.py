"""The same music at other levels: how much do the genres, mood and embedding move?

    .venv/bin/python tests/bench/bench_loudness.py [--devset ../shared/data/devset] [--json out.json]

Every devset clip (evaluation only, never trained on) and the bundled music fixtures, analyzed in
process as decoded and turned down 12 and 6 dB and up 6 dB (float samples: nothing clips). Per
gain, against the clip as it is: the share of clips with the same top genre and top mood, the
median and worst total variation distance between the genre breakdowns, and the median and worst
embedding cosine. Run it on two checkouts for a side-by-side comparison.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inference.analysis import Analyzer  # noqa: E402
from inference.audio import decode  # noqa: E402
from inference.features import RATE_32K, to_16k  # noqa: E402
from tests.bench.bench_long_tracks import devset_and_json_args, genre_tv_distance  # noqa: E402

GAINS_DB = (-12.0, -6.0, 6.0)
MUSIC_FIXTURES = ("vibe_ace", "sugar_plum_fairy", "hungarian_dance_5", "lets_go_fishin", "solo_trumpet")


def inputs(devset: Path | None) -> dict[str, np.ndarray]:
    """name -> 32 kHz samples."""
    paths = sorted(devset.glob("*.mp3")) + sorted(devset.glob("*.flac")) if devset is not None and devset.is_dir() else []
    paths += [REPO / "tests" / "fixtures" / f"{n}.ogg" for n in MUSIC_FIXTURES]
    return {p.stem: decode(p, rate=RATE_32K)[0] for p in paths}


def main() -> None:
    args = devset_and_json_args()
    analyzer = Analyzer.load(threads=1)
    rows: dict[float, list[dict]] = {g: [] for g in GAINS_DB}
    for name, x32 in inputs(args.devset).items():
        base = analyzer.analyze_samples(to_16k(x32), samples_32k=x32)
        for gain in GAINS_DB:
            y32 = x32 * np.float32(10 ** (gain / 20))
            moved = analyzer.analyze_samples(to_16k(y32), samples_32k=y32)
            rows[gain].append({
                "clip": name,
                "same_top_genre": moved.top_genre == base.top_genre,
                "same_top_mood": moved.top_mood == base.top_mood,
                "genre_tv_distance": genre_tv_distance(base.genres, moved.genres),
                "embedding_cosine": round(float(moved.embedding @ base.embedding), 4),
            })  # fmt: skip
        print(name, [(g, r[-1]["genre_tv_distance"]) for g, r in rows.items()], flush=True)
    summary = {}
    for gain, rs in rows.items():
        tv, cos = [r["genre_tv_distance"] for r in rs], [r["embedding_cosine"] for r in rs]
        summary[f"{gain:+.0f} dB"] = {
            "clips": len(rs),
            "same_top_genre": f"{sum(r['same_top_genre'] for r in rs)}/{len(rs)}",
            "same_top_mood": f"{sum(r['same_top_mood'] for r in rs)}/{len(rs)}",
            "median_genre_tv_distance": statistics.median(tv), "worst_genre_tv_distance": max(tv),
            "median_embedding_cosine": statistics.median(cos), "worst_embedding_cosine": min(cos),
        }  # fmt: skip
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": {f"{g:+.0f} dB": r for g, r in rows.items()}}, indent=2))


if __name__ == "__main__":
    main()
