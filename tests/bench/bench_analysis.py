"""Benchmark the analysis engine: per-stage times, one-worker end to end, workers, memory, cold start.

    .venv/bin/python tests/bench/bench_analysis.py [--runs 7] [--json out.json]

Inputs are real recordings: a 30 s excerpt of vibe_ace.ogg and a 4 min song made of the
bundled fixtures end to end, encoded as 44.1 kHz stereo MP3 like a typical download (decode and
resampling cost included). Both models (musicnn and EfficientAT) run on every analyzed patch.

The speed budget (issue 7), with one worker on a 2-core machine: a 30 s clip end to end <= 0.45 s,
a 4-minute MP3 <= 1.5 s, a worker <= 300 MB resident, a cold worker ready <= 1 s. "End to end"
is ``one_worker_pool.per_track_s``: a job submitted to a one-worker pool until its Analysis is back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from inference.analysis import Analyzer  # noqa: E402
from inference.audio import decode  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures"


def make_inputs(tmp: Path) -> dict[str, Path]:
    clip, _ = decode(FIXTURES / "vibe_ace.ogg")
    song = np.concatenate([decode(FIXTURES / f)[0] for f in ("lets_go_fishin.ogg", "sugar_plum_fairy.ogg")])
    paths = {"30s": tmp / "clip30.mp3", "4min": tmp / "song4min.mp3"}
    for (name, path), samples in zip(paths.items(), (clip[: 16000 * 30], song[: 16000 * 240]), strict=True):
        # libsndfile's Vorbis/MP3 encoders crash on long writes: encode with ffmpeg.
        wav = tmp / f"{name}.wav"
        sf.write(wav, samples, 16000)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", "44100", "-ac", "2", "-b:a", "192k", str(path)], check=True)
    return paths


def median_stages(analyzer: Analyzer, path: Path, runs: int) -> dict[str, float]:
    analyzer.analyze(path)  # warm
    samples = [analyzer.analyze(path).timings_ms for _ in range(runs)]
    return {k: round(statistics.median(s[k] for s in samples), 1) for k in samples[0]}


def _reset_peak_rss() -> None:
    """Reset this process's peak RSS (VmHWM): a spawned worker starts with its parent's."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def pool_numbers(path: Path, workers: int, jobs: int) -> dict[str, float]:
    from inference.analysis import analyze_job, init_worker
    from inference.pool import WorkerPool

    t = time.perf_counter()
    pool = WorkerPool(workers=workers, initializer=init_worker, max_queue=jobs + 4)
    await pool.start()
    cold = time.perf_counter() - t
    try:
        await pool.warmup(_reset_peak_rss)
        await asyncio.gather(*(pool.submit(analyze_job, str(path)) for _ in range(workers)))  # warm
        t = time.perf_counter()
        singles = []
        if workers == 1:  # one job at a time: each job's own wall time, for the median
            for _ in range(jobs):
                t1 = time.perf_counter()
                await pool.submit(analyze_job, str(path))
                singles.append(time.perf_counter() - t1)
        else:
            await asyncio.gather(*(pool.submit(analyze_job, str(path)) for _ in range(jobs)))
        wall = time.perf_counter() - t
        rss = await pool.warmup(_peak_rss_mb)
    finally:
        await pool.close()
    return {
        "workers": workers,
        "cold_start_s": round(cold, 2),
        "per_track_s": round(statistics.median(singles) if singles else wall / jobs, 3),
        "tracks_per_min": round(60 * jobs / wall, 1),
        "peak_rss_mb_per_worker": round(max(rss), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report: dict = {"machine": f"{os.cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp))
        t = time.perf_counter()
        # One worker on this machine gets every core (threads_per_worker = cores // workers).
        analyzer = Analyzer.load(threads=os.cpu_count() or 1)
        report["load_models_s"] = round(time.perf_counter() - t, 3)
        for name, path in inputs.items():
            stages = median_stages(analyzer, path, args.runs)
            report[name] = {
                "in_process_stages_ms": stages,
                "models_share": round((stages["musicnn"] + stages["audioset"]) / stages["total"], 3),
            }
        for name in ("30s", "4min"):
            report[name]["one_worker_pool"] = asyncio.run(pool_numbers(inputs[name], 1, args.runs))
            report[name]["all_workers"] = asyncio.run(pool_numbers(inputs[name], os.cpu_count() or 1, 8))
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
