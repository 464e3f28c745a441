"""Ranking: the catalog scored against each interest, a short pool re-scored exactly (similarity
to the nearest like of that interest), each interest's slots filled in proportion to its weight
with diverse picks; :func:`recommend` is the entry point."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from inference.recommend.catalog import Catalog, TrackFeatures
from inference.recommend.cold_start import cold_start_picks, cold_start_rows
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig
from inference.recommend.diversity import Selector
from inference.recommend.explain import explain
from inference.recommend.profile import build_profile
from inference.recommend.results import (
    NOTE_EMPTY_CATALOG,
    NOTE_LIKES_ELSEWHERE,
    NOTE_NO_LIKES,
    NOTE_NOTHING_NEW,
    NOTE_POPULAR,
    NOTE_SAMPLE,
    Pick,
    Recommendation,
    TasteProfile,
)

log = logging.getLogger(__name__)

__all__ = ["exact_scores", "exclusion_mask", "recommend", "top_rows"]


def _allocate(weights: np.ndarray, n: int) -> np.ndarray:
    """Split n slots over clusters in proportion to weight (largest remainder), one each at least
    when n allows; with fewer slots than clusters the heaviest get one. ``[K]`` -> ``[K]`` int."""
    k = weights.shape[0]
    w = weights / weights.sum()
    if n < k:
        q = np.zeros(k, dtype=np.int64)
        q[np.argsort(-w, kind="stable")[:n]] = 1
        return q
    ideal = w * n
    q = np.maximum(np.floor(ideal).astype(np.int64), 1)
    while q.sum() > n:
        over = np.where(q > 1, q - ideal, -np.inf)
        q[int(np.argmax(over))] -= 1
    while q.sum() < n:
        q[int(np.argmax(ideal - q))] += 1
    return q


def exclusion_mask(catalog: Catalog, *id_lists: Iterable[int]) -> np.ndarray:
    mask = np.zeros(len(catalog), dtype=bool)
    for ids in id_lists:
        mask[catalog.rows_for(ids)] = True
    return mask


@dataclass
class _Pool:
    """Candidates for one profile: rows [P], exact per-cluster scores [P, K], nearest like."""

    rows: np.ndarray
    vecs: np.ndarray  # [P, D]
    scores: np.ndarray  # [P, K]
    best_sim: np.ndarray  # [P] cosine to the nearest like
    best_like: np.ndarray  # [P] index into profile.liked


def top_rows(s: np.ndarray, t: int) -> np.ndarray:
    """Rows of the t largest finite entries of ``s`` [N] (unordered)."""
    t = min(t, s.shape[0])
    if t <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(s, s.shape[0] - t)[s.shape[0] - t :]
    return idx[np.isfinite(s[idx])]


def exact_scores(
    profile: TasteProfile, vecs: np.ndarray, centroid_sims: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``vecs`` [P, D], ``centroid_sims`` [P, K] -> (scores [P, K], best_sim [P], best_like [P])."""
    ls = vecs @ profile.vectors.T  # [P, m]
    k = len(profile.clusters)
    near = np.empty((vecs.shape[0], k), dtype=np.float32)
    for c in range(k):
        near[:, c] = ls[:, profile.labels == c].max(axis=1)
    scores = alpha * centroid_sims + (1.0 - alpha) * near
    best_like = np.argmax(ls, axis=1)
    best_sim = ls[np.arange(ls.shape[0]), best_like]
    return scores, best_sim, best_like


def _candidate_pool(
    profile: TasteProfile,
    catalog: Catalog,
    excluded: np.ndarray,
    pool: int,
    config: RecommendConfig,
) -> _Pool:
    sims = profile.centroids @ catalog.columns  # [K, N], the one pass over the catalog
    if excluded.any():
        sims[:, excluded] = -np.inf
    rows = np.unique(np.concatenate([top_rows(sims[c], pool) for c in range(sims.shape[0])]))
    vecs = catalog.vectors(rows)
    scores, best_sim, best_like = exact_scores(
        profile, vecs, sims[:, rows].T, config.centroid_weight
    )
    keep = best_sim < config.duplicate_cos  # another upload of something already liked
    return _Pool(rows[keep], vecs[keep], scores[keep], best_sim[keep], best_like[keep])


def _select_for_profile(
    pool: _Pool, profile: TasteProfile, catalog: Catalog, n: int, config: RecommendConfig
) -> list[tuple[int, int]]:
    """Fill each cluster's quota, most under-filled cluster first. -> [(pool index, cluster)]."""
    weights = np.array([c.weight for c in profile.clusters])
    quota = _allocate(weights, n)
    assigned = np.argmax(pool.scores, axis=1)
    base = pool.scores[np.arange(pool.scores.shape[0]), assigned]
    sel = Selector(catalog, pool.rows, pool.vecs, n, config)
    count = np.zeros(len(weights), dtype=np.int64)
    out: list[tuple[int, int]] = []
    while len(out) < n:
        elig = sel.eligible()
        if not elig.any():
            break
        has = np.bincount(assigned[elig], minlength=len(weights)) > 0
        under = has & (count < quota)
        pool_c = under if under.any() else has
        fill = np.where(pool_c, count / np.maximum(quota if under.any() else weights, 1e-9), np.inf)
        c = int(np.lexsort((-weights, fill))[0])
        value = np.where(elig & (assigned == c), base - sel.penalty(), -np.inf)
        i = int(np.argmax(value))
        sel.take(i)
        count[c] += 1
        out.append((i, c))
    return out


def recommend(
    liked_ids: Sequence[int],
    catalog: Catalog,
    n: int = 10,
    *,
    exclude: Iterable[int] = (),
    popular_ids: Sequence[int] = (),
    liked_tracks: Sequence[TrackFeatures] = (),
    weights: Sequence[float] | None = None,
    config: RecommendConfig = DEFAULT_CONFIG,
    seed: int = 0,
    profile: TasteProfile | None = None,
) -> Recommendation:
    """Up to ``n`` picks for someone who liked ``liked_ids``, best first (see :func:`order_playlist`
    for listening order). Never raises for empty inputs: with no usable likes it falls back to
    ``popular_ids`` (most popular first) or a varied sample, with a note saying so.

    ``exclude``: ids not to recommend again (e.g. recently recommended); liked ids, and other
    uploads of them, are never recommended. ``weights`` align with ``liked_ids`` (recency).
    ``profile``: a :func:`build_profile` result for the same likes and catalog, cached by the
    caller until the likes change (saves a few ms with hundreds of likes); it overrides
    ``liked_ids``, ``liked_tracks`` and ``weights``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if len(catalog) == 0:
        return Recommendation(
            [], NOTE_EMPTY_CATALOG, None, cold_start=not liked_ids and not liked_tracks
        )
    exclude = list(exclude)
    if profile is None:
        profile = build_profile(
            liked_ids, catalog, liked_tracks=liked_tracks, weights=weights, config=config, seed=seed
        )
    if profile is None:
        excluded = exclusion_mask(catalog, exclude, liked_ids)
        rows, n_pop = cold_start_rows(catalog, excluded, n, popular_ids, config, seed)
        lead = NOTE_LIKES_ELSEWHERE if (liked_ids or liked_tracks) else NOTE_NO_LIKES
        if not rows:
            tail = "" if n == 0 else " There's nothing new to suggest right now."
            return Recommendation([], lead + tail, None, cold_start=True)
        note = f"{lead} {NOTE_POPULAR if n_pop else NOTE_SAMPLE}"
        return Recommendation(cold_start_picks(rows, n_pop, catalog), note, None, cold_start=True)
    if n == 0:
        return Recommendation([], None, profile)
    excluded = exclusion_mask(catalog, exclude, profile.liked_ids)
    pool = _candidate_pool(profile, catalog, excluded, max(config.pool_per_cluster, 6 * n), config)
    chosen = _select_for_profile(pool, profile, catalog, n, config)
    picks = []
    for i, c in chosen:
        track = catalog.tracks[int(catalog.ids[pool.rows[i]])]
        liked = profile.liked[int(pool.best_like[i])]
        sim = float(pool.best_sim[i])
        picks.append(
            Pick(
                track_id=track.track_id,
                score=float(pool.scores[i, c]),
                reason=explain(track, liked, sim, config=config),
                closest_liked_id=liked.track_id,
                cluster=c,
            )
        )
    log.debug(
        "recommend: %d likes -> %d interests %s, %d candidates, %d picks",
        len(profile.liked_ids),
        len(profile.clusters),
        [round(c.weight, 2) for c in profile.clusters],
        pool.rows.size,
        len(picks),
    )
    note = None
    if not picks:
        note = NOTE_NOTHING_NEW
    elif len(picks) < n:
        note = f"Only {len(picks)} new track{'s' if len(picks) != 1 else ''} to suggest so far — the catalog is still small."
    return Recommendation(picks, note, profile)
