"""Taste profiles: someone's likes clustered into interests (average-linkage agglomeration,
stopped by a similarity threshold calibrated against the catalog's random-pair similarity)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from inference.recommend.catalog import Catalog, TrackFeatures
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig
from inference.recommend.results import TasteCluster, TasteProfile

__all__ = ["build_profile", "recency_weights"]


def recency_weights(ages_days: Sequence[float], half_life_days: float = 180.0) -> np.ndarray:
    """Weights halving every ``half_life_days``: ``[m]`` float64 for likes ``ages_days`` old."""
    a = np.maximum(np.asarray(ages_days, dtype=np.float64), 0.0)
    return 0.5 ** (a / half_life_days)


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _spherical_kmeans(
    x: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, iters: int = 10
) -> np.ndarray:
    """Weighted spherical k-means with k-means++ seeding. ``x`` [m, D] unit rows -> labels [m]."""
    m = x.shape[0]

    def draw(p: np.ndarray) -> int:
        c = np.cumsum(p)
        return min(int(np.searchsorted(c, rng.random() * c[-1], side="right")), m - 1)

    first = draw(w)
    centres = [x[first]]
    closest = x @ x[first]
    for _ in range(1, k):
        d = np.maximum(1.0 - closest, 0.0) * w
        if d.sum() <= 0:
            break
        j = draw(d)
        centres.append(x[j])
        closest = np.maximum(closest, x @ x[j])
    c = np.stack(centres)
    labels = np.full(m, -1)
    wx = x * w[:, None].astype(x.dtype)
    for _ in range(iters):
        new = np.argmax(x @ c.T, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        onehot = np.zeros((c.shape[0], m), dtype=x.dtype)
        onehot[labels, np.arange(m)] = 1.0
        sums = onehot @ wx
        filled = np.linalg.norm(sums, axis=1) > 0
        c[filled] = _normalise_rows(sums[filled])
    return np.unique(labels, return_inverse=True)[1]


def _cluster_likes(
    x: np.ndarray, w: np.ndarray, threshold: float, config: RecommendConfig, seed: int
) -> np.ndarray:
    """Group liked vectors into interests. ``x`` [m, D] unit rows, ``w`` [m] > 0 -> labels [m].

    Average-linkage agglomeration (the average pairwise cosine of two groups is the dot product of
    their weighted mean vectors, so no pairwise matrix is needed), merging while the best pair is
    at least ``threshold`` similar, while there are more than ``max_clusters`` groups, or while a
    group holds less than ``min_cluster_share`` of the weight. Above ``micro_clusters`` likes it
    starts from k-means micro-groups instead of single likes.
    """
    m = x.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    if m > config.micro_clusters:
        labels = _spherical_kmeans(x, w, config.micro_clusters, np.random.default_rng(seed))
    else:
        labels = np.arange(m)
    g = int(labels.max()) + 1
    onehot = np.zeros((g, m))
    onehot[labels, np.arange(m)] = 1.0
    sums = onehot @ (x.astype(np.float64) * w[:, None])
    dots = sums @ sums.T  # [g, g]; kept up to date on merges (Lance-Williams style)
    weights = onehot @ w
    total = weights.sum()
    group_of = np.arange(g)  # micro-group -> current group
    alive = np.ones(g, dtype=bool)
    off = np.eye(g, dtype=bool)
    while alive.sum() > 1:
        link = dots / np.outer(weights, weights)
        link[off | ~alive[:, None] | ~alive[None, :]] = -np.inf
        i, j = np.unravel_index(int(np.argmax(link)), link.shape)
        if link[i, j] < threshold and alive.sum() <= config.max_clusters:
            small = alive & (weights / total < config.min_cluster_share)
            if not small.any():
                break
            i = int(np.argmin(np.where(small, weights, np.inf)))  # the smallest tiny group
            j = int(np.argmax(link[i]))
        dots[i, :] += dots[j, :]
        dots[:, i] += dots[:, j]
        weights[i] += weights[j]
        alive[j] = False
        group_of[group_of == j] = i
    return np.unique(group_of[labels], return_inverse=True)[1]


def _likes_from(
    liked_ids: Sequence[int],
    catalog: Catalog,
    liked_tracks: Sequence[TrackFeatures],
    weights: Sequence[float] | None,
) -> tuple[list[int], np.ndarray, list[TrackFeatures], np.ndarray]:
    """Resolve likes to (ids, vectors [m, D], features, weights [m]); unknown ids are dropped."""
    extra = {int(t.track_id): t for t in liked_tracks}
    if weights is not None and len(weights) != len(liked_ids):
        raise ValueError("weights must align with liked_ids")
    ids: list[int] = []
    feats: list[TrackFeatures] = []
    ws: list[float] = []
    cat_pos: list[int] = []  # positions in ids filled from the catalog ...
    cat_rows: list[int] = []  # ... and their catalog rows
    extra_vecs: dict[int, np.ndarray] = {}  # position -> vector for likes from elsewhere
    seen: set[int] = set()
    rows: dict[int, int] = {}
    if len(catalog):
        found = catalog.rows_for(liked_ids)
        rows = dict(zip(catalog.ids[found].tolist(), found.tolist(), strict=True))
    for pos, tid in enumerate(liked_ids):
        tid = int(tid)
        if tid in seen:
            continue
        wt = 1.0 if weights is None else float(weights[pos])
        if not wt > 0:
            continue
        if tid in rows:
            cat_pos.append(len(ids))
            cat_rows.append(rows[tid])
            feat = catalog.tracks[tid]
        elif tid in extra:
            feat = extra[tid]
            vec = np.asarray(feat.embedding, dtype=np.float32).reshape(-1)
            nrm = float(np.linalg.norm(vec))
            if (len(catalog) and vec.shape[0] != catalog.dim) or not np.isfinite(nrm) or nrm == 0:
                continue
            extra_vecs[len(ids)] = vec / nrm
        else:
            continue
        seen.add(tid)
        ids.append(tid)
        feats.append(feat)
        ws.append(wt)
    dim = catalog.dim if len(catalog) else next((v.shape[0] for v in extra_vecs.values()), 0)
    x = np.empty((len(ids), dim), dtype=np.float32)
    if cat_rows:
        x[cat_pos] = catalog.vectors(np.asarray(cat_rows, dtype=np.int64))
    for pos, vec in extra_vecs.items():
        x[pos] = vec
    return ids, x, feats, np.asarray(ws, dtype=np.float64)


def build_profile(
    liked_ids: Sequence[int],
    catalog: Catalog,
    *,
    liked_tracks: Sequence[TrackFeatures] = (),
    weights: Sequence[float] | None = None,
    config: RecommendConfig = DEFAULT_CONFIG,
    seed: int = 0,
) -> TasteProfile | None:
    """Cluster someone's likes into interests; None when none of them can be used.

    ``liked_ids`` are looked up in ``catalog``; likes that live elsewhere (another guild) can be
    passed as ``liked_tracks``. ``weights`` (e.g. :func:`recency_weights`) align with
    ``liked_ids``. Clusters come sorted by weight, heaviest first.
    """
    ids, x, feats, w = _likes_from(liked_ids, catalog, liked_tracks, weights)
    if not ids:
        return None
    b = catalog.baseline
    threshold = b + config.interest_threshold * (1.0 - b)
    labels = _cluster_likes(x, w, threshold, config, seed)
    k = int(labels.max()) + 1
    wsum = np.bincount(labels, weights=w, minlength=k)
    first = np.array([np.flatnonzero(labels == c)[0] for c in range(k)])
    order = sorted(range(k), key=lambda c: (-wsum[c], first[c]))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    labels = remap[labels]
    clusters = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        xs = x[members].astype(np.float64)
        s = (xs * w[members, None]).sum(axis=0)
        cen = (s / max(np.linalg.norm(s), 1e-12)).astype(np.float32)
        if members.size > 1:
            tot = xs.sum(axis=0)
            cohesion = float((tot @ tot - members.size) / (members.size * (members.size - 1)))
        else:
            cohesion = 1.0
        genres = Counter(g for g in (feats[i].top_genre for i in members) if g)
        top = min(genres, key=lambda gn: (-genres[gn], gn)) if genres else None
        clusters.append(
            TasteCluster(
                index=c,
                centroid=cen,
                liked_ids=tuple(ids[i] for i in members),
                weight=float(wsum[order[c]] / w.sum()),
                top_genre=top,
                cohesion=cohesion,
            )
        )
    return TasteProfile(
        clusters=tuple(clusters), liked_ids=tuple(ids), vectors=x, labels=labels, liked=tuple(feats)
    )
