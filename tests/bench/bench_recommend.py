"""Benchmark of inference.recommend on synthetic but realistically clustered embeddings.

    .venv/bin/python tests/bench/bench_recommend.py [--sizes 10000 100000] [--runs 30]

Vectors: 200-d, a shared mean direction (real audio embeddings are far from isotropic: random
pairs have a positive cosine), 8 genres x 6 styles, per-track noise. Users like tracks from 1-3
genres (plus a few strays for big like lists). Prints median and p95 wall time per call, and median CPU time (robust to other load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from inference.recommend import (
    Catalog,
    TrackFeatures,
    blend_party,
    build_profile,
    order_playlist,
    recommend,
)

GENRES = ["jazz", "metal", "classical", "hiphop", "country", "electronic", "reggae", "pop"]
KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
DIM = 200


def make_catalog(n: int, seed: int = 0) -> tuple[Catalog, np.ndarray]:
    """-> (catalog, genre label per row [n])."""
    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    common = unit(rng.standard_normal(DIM))
    genre_c = unit(rng.standard_normal((len(GENRES), DIM)))
    style_c = unit(rng.standard_normal((len(GENRES), 6, DIM)))
    g = rng.integers(len(GENRES), size=n)
    s = rng.integers(6, size=n)
    noise = unit(rng.standard_normal((n, DIM)))
    emb = unit(0.6 * common + 0.8 * genre_c[g] + 0.45 * style_c[g, s] + 0.55 * noise).astype(
        np.float32
    )
    tempo = rng.uniform(60, 180, size=n)
    keys = rng.integers(12, size=n)
    modes = rng.integers(2, size=n)
    sources = rng.integers(max(2, n // 25), size=n)
    tracks = [
        TrackFeatures(
            track_id=i,
            embedding=emb[i],
            genres={GENRES[g[i]]: 0.7, GENRES[(g[i] + 1) % len(GENRES)]: 0.3},
            tempo_bpm=float(tempo[i]),
            key=KEYS[keys[i]],
            mode="minor" if modes[i] else "major",
            title=f"{GENRES[g[i]]} track {i}",
            source=f"uploader{sources[i]}",
        )
        for i in range(n)
    ]
    return Catalog(tracks), g


def user_likes(genre_of: np.ndarray, n_likes: int, rng: np.random.Generator) -> list[int]:
    n_genres = 1 if n_likes == 1 else (2 if n_likes <= 20 else 3)
    chosen = rng.choice(len(GENRES), n_genres, replace=False)
    pool = np.flatnonzero(np.isin(genre_of, chosen))
    likes = rng.choice(pool, n_likes, replace=False)
    if n_likes >= 50:  # a few strays
        likes[: n_likes // 25] = rng.choice(len(genre_of), n_likes // 25, replace=False)
    return [int(i) for i in likes]


def timed(fn, runs: int) -> tuple[float, float, float]:
    """-> (median wall ms, p95 wall ms, median CPU ms of this process). CPU time is what the call
    costs regardless of other load on the machine; wall time is what a user waits."""
    for _ in range(3):
        fn(0)
    wall, cpu = [], []
    for r in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(r + 1)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    wall.sort()
    p95 = wall[min(len(wall) - 1, int(round(0.95 * (len(wall) - 1))))]
    return statistics.median(wall), p95, statistics.median(cpu)


def bench_size(size: int, args: argparse.Namespace) -> list[tuple]:
    rows: list[tuple] = []
    t0 = time.perf_counter()
    catalog, genre_of = make_catalog(size)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    Catalog(catalog.tracks.values())
    rows.append(
        (
            size,
            "Catalog(...) build",
            "-",
            (time.perf_counter() - t0) * 1000,
            float("nan"),
            float("nan"),
        )
    )
    print(
        f"catalog {size}: generated in {t_gen:.1f} s, baseline cosine {catalog.baseline:.2f}",
        flush=True,
    )
    recent = [int(i) for i in np.random.default_rng(99).choice(size, 200, replace=False)]
    users: list[list[int]] = []
    for n_likes in args.likes:
        users = [
            user_likes(genre_of, n_likes, np.random.default_rng(r)) for r in range(args.runs + 3)
        ]
        rows.append(
            (
                size,
                "recommend()",
                n_likes,
                *timed(
                    lambda r, u=users: recommend(u[r], catalog, args.n, exclude=recent), args.runs
                ),
            )
        )
        if n_likes == max(args.likes):
            cached = [build_profile(u, catalog) for u in users]
            rows.append(
                (
                    size,
                    "recommend(profile=)",
                    n_likes,
                    *timed(
                        lambda r, u=users, c=cached: recommend(
                            u[r], catalog, args.n, exclude=recent, profile=c[r]
                        ),
                        args.runs,
                    ),
                )
            )
            rows.append(
                (
                    size,
                    "build_profile()",
                    n_likes,
                    *timed(lambda r, u=users: build_profile(u[r], catalog), args.runs),
                )
            )
        parties = [
            {
                f"user{m}": user_likes(genre_of, n_likes, np.random.default_rng(1000 + 3 * r + m))
                for m in range(3)
            }
            for r in range(args.runs + 3)
        ]
        rows.append(
            (
                size,
                "blend_party() x3",
                n_likes,
                *timed(lambda r, p=parties: blend_party(p[r], catalog, 15, recent), args.runs),
            )
        )
    picks = recommend(users[0], catalog, 30).picks
    rows.append(
        (
            size,
            "order_playlist(30)",
            "-",
            *timed(lambda r: order_playlist(picks, catalog), args.runs),
        )
    )
    rows.append(
        (
            size,
            "cold start (sample)",
            0,
            *timed(lambda r: recommend([], catalog, args.n), args.runs),
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--likes", type=int, nargs="+", default=[1, 20, 200])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("-n", type=int, default=10, help="picks per call")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads (re-executes with OPENBLAS/OMP/MKL_NUM_THREADS set; 0 leaves them alone). "
        "1 is what the bot should use: multi-threaded BLAS on small matrices is slower on a busy "
        "2-core machine.",
    )
    args = ap.parse_args()
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if args.blas_threads and os.environ.get(names[0]) != str(args.blas_threads):
        env = {**os.environ, **{k: str(args.blas_threads) for k in names}}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{os.cpu_count()} CPUs, load average {load:.1f}, OPENBLAS_NUM_THREADS={os.environ.get(names[0], 'unset')}"
    )

    rows = [row for size in args.sizes for row in bench_size(size, args)]
    print()
    print(
        f"{'catalog':>8}  {'call':<22} {'likes':>5}  {'median ms':>9}  {'p95 ms':>7}  {'CPU ms':>7}"
    )
    for size, call, likes, med, p95, cpu in rows:
        print(f"{size:>8}  {call:<22} {likes!s:>5}  {med:>9.1f}  {p95:>7.1f}  {cpu:>7.1f}")


if __name__ == "__main__":
    main()
