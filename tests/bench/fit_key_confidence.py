"""Fit the key confidence: P(the estimated key is exactly right) from the estimator's own scores.

    .venv/bin/python tests/bench/fit_key_confidence.py [--shared ../shared]

Fits ``logistic(b0 + b1 * best correlation + b2 * lead over the runner-up)`` on the rendered songs
and the GTZAN excerpts of the key benchmark (``keytempo_data.py``) plus 40 generated inputs with no
key at all (noise of three colours, drum patterns alone: never "exactly right"), so that the
probability is low where nothing is tonal. Prints its 5-fold
cross-validated reliability (predicted vs observed share of exact keys, per bin) and the
coefficients that ``inference/key.py`` keeps as KEY_CALIBRATION. The devset and the fixtures are
never used here; ``bench_keytempo.py`` reports the confidence on them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from keytempo_data import REPO, benchmark_clips  # noqa: E402

from inference.key import chroma_profile, key_scores, top_key  # noqa: E402
from inference.keys import Key  # noqa: E402
from tests.music_synth import DRUMS, render_drums, render_noise  # noqa: E402

FIT_SETS = ("rendered", "gtzan-excerpts")


def keyless_inputs() -> list[np.ndarray]:
    """40 inputs without a key: noise and drum patterns alone, 3 to 30 s."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(20):
        out.append(render_noise(("white", "pink", "brown")[i % 3], float(rng.uniform(3, 30)), seed=i))
        kind = DRUMS[1 + i % (len(DRUMS) - 1)]
        out.append(render_drums(kind, float(rng.uniform(70, 170)), float(rng.uniform(3, 30)), seed=i))
    return out


def features(samples: np.ndarray) -> tuple[Key, float, float]:
    """(estimated key, best correlation, lead over the runner-up)."""
    return top_key(key_scores(chroma_profile(samples)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000) -> np.ndarray:
    """[b0, b1, ...] by gradient descent on standardised inputs (a little L2)."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = p - y
        w -= 0.5 * (z.T @ g / y.size + l2 * w)
        b -= 0.5 * g.mean()
    coef = w / sd
    return np.concatenate([[b - coef @ mu], coef])


def predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(coef[0] + x @ coef[1:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    rows = []
    for clip in benchmark_clips(args.shared):
        if clip.set in FIT_SETS and clip.key:
            key, best, lead = features(clip.load())
            rows.append((best, lead, float(key == clip.key)))
    for samples in keyless_inputs():
        _, best, lead = features(samples)
        rows.append((best, lead, 0.0))
    data = np.array(rows)
    x, y = data[:, :2], data[:, 2]
    fold = np.random.default_rng(0).integers(0, 5, y.size)
    p = np.zeros(y.size)
    for k in range(5):
        p[fold == k] = predict(fit_logistic(x[fold != k], y[fold != k]), x[fold == k])
    print(f"{y.size} clips, {y.mean():.3f} exact; 5-fold cross-validated reliability:")
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (p >= lo) & (p < hi)
        if sel.any():
            print(f"  predicted {lo:.1f}-{hi:.1f}: mean {p[sel].mean():.2f}, observed {y[sel].mean():.2f} ({sel.sum()} clips)")
    coef = fit_logistic(x, y)
    print("KEY_CALIBRATION = (" + ", ".join(f"{c:.2f}" for c in coef) + ")")


if __name__ == "__main__":
    main()
