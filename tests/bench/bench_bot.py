"""Benchmark the Discord front end under load: 16 ``/classify`` requests at once through the real
bot against the fake Discord, for 1 and 2 analysis workers.

    .venv/bin/python tests/bench/bench_bot.py [--jobs 16] [--workers 1 2] [--json out.json]

Measured, per worker count:

- **defer latency**: from the interaction's creation (in the fake) to the bot's first response
  (the defer) arriving back at the fake; Discord wants it within 3 s (target: p95 < 200 ms);
- **event-loop lag** of the bot's loop: a 10 ms ticker's lateness while the jobs run (target:
  p99 < 20 ms), which shows whether anything blocks the loop (downloads, charts, the database);
- **completion**: from the interaction to the result message (embed + chart) in the fake;
- **throughput**: analyses per minute over the whole batch.

Each request is a different 30-second excerpt of the bundled recordings (written as Ogg Vorbis,
so each is analyzed, not answered from the database), from a different user. The fake runs in
its own process, as Discord would be remote; the bot, its service and the worker processes run
as in production (``make_services`` from ``earworm run``). One warm-up request per configuration
is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FIXTURES = REPO / "tests" / "fixtures"
CLIP_S = 30
SOURCES = ("sugar_plum_fairy", "lets_go_fishin", "vibe_ace", "hungarian_dance_5")
TARGET_DEFER_P95_MS = 200.0
TARGET_LAG_P99_MS = 20.0
TICK_S = 0.010


# ---------------------------------------------------------------------- inputs


def make_clips(directory: Path, n: int) -> list[Path]:
    """``n`` distinct 30 s excerpts (Ogg Vorbis, 16 kHz mono) of the bundled recordings."""
    import soundfile as sf

    from inference.audio import decode

    sr = 16000
    decoded = {name: decode(FIXTURES / f"{name}.ogg")[0] for name in SOURCES}
    windows = []
    for name, audio in decoded.items():
        step = 10 * sr  # overlapping windows 10 s apart: different audio, different hashes
        windows += [(name, start) for start in range(0, len(audio) - CLIP_S * sr + 1, step)]
    if len(windows) < n:
        raise SystemExit(f"only {len(windows)} distinct excerpts available, asked for {n}")
    # Spread the picks over the recordings rather than taking one recording's windows first.
    windows.sort(key=lambda w: (w[1], SOURCES.index(w[0])))
    paths = []
    for i, (name, start) in enumerate(windows[:n]):
        path = directory / f"{i:02d}-{name}-{start // sr}s.ogg"
        sf.write(
            path, decoded[name][start : start + CLIP_S * sr], sr, format="OGG", subtype="VORBIS"
        )
        paths.append(path)
    return paths


# ---------------------------------------------------------------------- the fake's process


def fake_process(conn: Any, users: list[str]) -> None:
    """The fake Discord in its own process: reports its URLs, then runs batches on request."""
    sys.path.insert(0, str(REPO))
    asyncio.run(_fake_main(conn, users))


async def _fake_main(conn: Any, users: list[str]) -> None:
    from tests.fake_discord import FakeDiscord

    fake = FakeDiscord(users=users)
    await fake.start()
    conn.send({"api_base": fake.api_base, "gateway_url": fake.gateway_url})
    await fake.wait_ready(timeout=120)
    loop = asyncio.get_running_loop()
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd["op"] == "stop":
            break
        conn.send(await _batch(fake, [Path(p) for p in cmd["clips"]], users))
    await fake.close()


async def _batch(fake: Any, clips: list[Path], users: list[str]) -> dict[str, Any]:
    """Send one /classify per clip (each from its own user) at once; wait for every result."""
    atts = [fake.register_attachment(p.name, p.read_bytes()) for p in clips]
    t0 = time.monotonic()
    interactions = await asyncio.gather(
        *(
            fake.slash(users[i % len(users)], None, "music", "classify", options={"file": att})
            for i, att in enumerate(atts)
        )
    )

    async def done(ix: Any) -> float:
        msg = await fake.wait_for_original(
            ix, lambda m: bool(m["embeds"]) or m["deleted"], timeout=600
        )
        if not msg["embeds"]:
            raise RuntimeError(f"request {ix.id} failed: {[m['content'] for m in ix.messages]}")
        return time.monotonic() - ix.created_at

    completion = await asyncio.gather(*(done(ix) for ix in interactions))
    makespan = time.monotonic() - t0
    return {
        "defer_s": [ix.response["at"] for ix in interactions],
        "completion_s": list(completion),
        "makespan_s": makespan,
        "problems": list(fake.problems),
        "titles": [ix.original["embeds"][0]["title"] for ix in interactions],
    }


# ---------------------------------------------------------------------- the bot's side


class LagTicker:
    """Measures how late a 10 ms sleep wakes up on this event loop."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.tick_s)
            self.lags.append(max(0.0, loop.time() - t - self.tick_s))

    def start(self) -> None:
        self.lags.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def bench_config(workers: int, clips: list[Path], warm: Path, tmp: Path) -> dict[str, Any]:
    from bot.cli.run import make_services
    from bot.config import Settings
    from bot.discord.app import EarwormBot, apply_endpoint_overrides

    users = [f"user{i:02d}" for i in range(len(clips))]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=fake_process, args=(child, users), daemon=True)
    proc.start()
    info = await asyncio.to_thread(parent.recv)

    settings = Settings(
        discord_token="fake-token",
        database_path=tmp / f"bench-w{workers}.db",
        workers=workers,
        max_queue=max(32, 2 * len(clips)),
        api_base_url=info["api_base"],
        gateway_url=info["gateway_url"],
        log_level="WARNING",
    )
    t = time.perf_counter()
    service = await make_services(settings)
    startup_s = time.perf_counter() - t
    restore = apply_endpoint_overrides(settings)
    bot = EarwormBot(settings, service, guild_ready_timeout=0.05)
    task = asyncio.create_task(bot.start("fake-token"))
    ticker = LagTicker()
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        parent.send({"op": "run", "clips": [str(warm)]})
        await asyncio.to_thread(parent.recv)  # warm-up: first chart, first download

        ticker.start()
        parent.send({"op": "run", "clips": [str(p) for p in clips]})
        batch = await asyncio.to_thread(parent.recv)
        await ticker.stop()
        stats = service.engine.pool.stats()
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)
        restore()
        parent.send({"op": "stop"})
        await asyncio.to_thread(proc.join, 30)

    defer_ms = [s * 1000 for s in batch["defer_s"]]
    lag_ms = [s * 1000 for s in ticker.lags]
    done_s = batch["completion_s"]
    return {
        "workers": workers,
        "jobs": len(clips),
        "service_startup_s": round(startup_s, 2),
        "defer_ms": {
            "p50": round(percentile(defer_ms, 50), 1),
            "p95": round(percentile(defer_ms, 95), 1),
            "max": round(max(defer_ms), 1),
        },
        "loop_lag_ms": {
            "p50": round(percentile(lag_ms, 50), 2),
            "p99": round(percentile(lag_ms, 99), 2),
            "max": round(max(lag_ms), 2),
            "ticks": len(lag_ms),
        },
        "completion_s": {
            "p50": round(percentile(done_s, 50), 2),
            "p95": round(percentile(done_s, 95), 2),
            "max": round(max(done_s), 2),
        },
        "makespan_s": round(batch["makespan_s"], 2),
        "analyses_per_min": round(len(clips) / batch["makespan_s"] * 60, 1),
        "mean_job_s": round(stats.mean_job_s or 0.0, 3),
        "fake_problems": batch["problems"],
    }


def print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'workers':>7}  {'jobs':>4}  {'defer p50':>9}  {'defer p95':>9}  {'lag p50':>7}  "
        f"{'lag p99':>7}  {'lag max':>7}  {'done p50':>8}  {'done p95':>8}  {'per min':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        d, lag, c = r["defer_ms"], r["loop_lag_ms"], r["completion_s"]
        print(
            f"{r['workers']:>7}  {r['jobs']:>4}  {d['p50']:>6.1f} ms  {d['p95']:>6.1f} ms  "
            f"{lag['p50']:>4.1f} ms  {lag['p99']:>4.1f} ms  {lag['max']:>4.1f} ms  "
            f"{c['p50']:>6.2f} s  {c['p95']:>6.2f} s  {r['analyses_per_min']:>7.1f}"
        )
    worst_defer = max(r["defer_ms"]["p95"] for r in results)
    worst_lag = max(r["loop_lag_ms"]["p99"] for r in results)
    print(
        f"\ntargets: defer p95 < {TARGET_DEFER_P95_MS:.0f} ms "
        f"({'met' if worst_defer < TARGET_DEFER_P95_MS else 'MISSED'}: worst {worst_defer:.1f} ms); "
        f"loop lag p99 < {TARGET_LAG_P99_MS:.0f} ms "
        f"({'met' if worst_lag < TARGET_LAG_P99_MS else 'MISSED'}: worst {worst_lag:.1f} ms)"
    )
    problems = [p for r in results for p in r["fake_problems"]]
    if problems:
        print("the fake saw problems:", *problems, sep="\n  ")


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="earworm-bench-bot-") as tmp_name:
        tmp = Path(tmp_name)
        clips = make_clips(tmp, args.jobs + len(args.workers))
        results = []
        for i, workers in enumerate(args.workers):
            # A fresh database each time, and clips not seen before: every job is analyzed.
            warm = clips[args.jobs + i]
            batch = clips[: args.jobs]
            print(f"workers={workers}: {args.jobs} jobs...", file=sys.stderr, flush=True)
            results.append(await bench_config(workers, batch, warm, tmp))
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16, help="requests sent at once (default 16)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default: 1 2)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = asyncio.run(main_async(args))
    print_table(results)
    if args.json:
        machine = {
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "python": platform.python_version(),
        }
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
