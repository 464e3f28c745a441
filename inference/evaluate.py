"""Quality metrics for ``earworm eval``: genre accuracy and retrieval precision@k.

Pure numpy over plain inputs, so the CLI, the tests and notebooks compute the same numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from inference.genres import GENRES


def top_genre(genres: dict[str, float], allowed: set[str] | None = None) -> str | None:
    """The strongest genre, optionally only among ``allowed``."""
    candidates = {g: s for g, s in genres.items() if allowed is None or g in allowed}
    return max(candidates, key=candidates.__getitem__) if candidates else None


def accuracy_report(labels: list[str], predictions: list[dict[str, float]]) -> dict:
    """Top-1 accuracy among the labels that occur (``accuracy``) and over the whole vocabulary
    (``accuracy_open``), per-label accuracy and the confusion counts.

    ``labels`` are already normalised; ``predictions`` are genre-share dicts (empty when the
    track was judged not to be music, which counts as a miss).
    """
    occurring = set(labels) & set(GENRES)
    closed = [top_genre(p, occurring) for p in predictions]
    opened = [top_genre(p) for p in predictions]
    per_label: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for label, pred in zip(labels, closed, strict=True):
        per_label[label].append(pred == label)
        confusion[label][pred or "not music"] += 1
    n = len(labels)
    return {
        "accuracy": _mean(p == t for p, t in zip(closed, labels, strict=True)) if n else None,
        "accuracy_open": _mean(p == t for p, t in zip(opened, labels, strict=True)) if n else None,
        "labels_in_vocabulary": sorted(occurring),
        "labels_outside_vocabulary": sorted(set(labels) - occurring),
        "per_label": {k: {"n": len(v), "accuracy": _mean(v)} for k, v in sorted(per_label.items())},
        "confusion": {k: dict(v.most_common()) for k, v in sorted(confusion.items())},
    }


def precision_at_k(embeddings: np.ndarray, labels: list[str], ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float | int | None]:
    """Mean share of each query's k nearest neighbours (cosine, itself excluded) with its label.

    ``embeddings`` [N, D] unit rows. Every track is a query whose label at least one other track
    carries (a query with nothing to find scores 0 whatever the embedding, so it measures the
    labels, not the embedding); ``queries`` says how many. When fewer than k other tracks
    exist, k shrinks to N - 1.
    """
    n = len(labels)
    counts = Counter(labels)
    queries = np.array([counts[label] > 1 for label in labels])
    if n < 2 or not queries.any():
        return {f"p@{k}": None for k in ks} | {"queries": 0}
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1)
    same = np.asarray(labels)[order] == np.asarray(labels)[:, None]
    out: dict[str, float | int | None] = {f"p@{k}": round(float(same[queries, : min(k, n - 1)].mean()), 4) for k in ks}
    return out | {"queries": int(queries.sum())}


def timing_summary(timings: list[dict[str, float]], wall_s: float) -> dict:
    stages = sorted({k for t in timings for k in t})
    return {
        "files": len(timings),
        "wall_s": round(wall_s, 2),
        "files_per_min": round(60 * len(timings) / wall_s, 1) if wall_s > 0 else None,
        "median_ms": {s: round(float(np.median([t[s] for t in timings if s in t])), 1) for s in stages},
    }


def _mean(values) -> float:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else 0.0
