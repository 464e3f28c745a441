"""Picks for someone without usable likes: popular tracks first, then a varied farthest-point
sample of the catalog."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inference.recommend.catalog import Catalog
from inference.recommend.config import RecommendConfig
from inference.recommend.diversity import Selector
from inference.recommend.explain import describe
from inference.recommend.results import Pick

__all__ = ["cold_start_picks", "cold_start_rows", "farthest_point_rows"]


def farthest_point_rows(
    catalog: Catalog,
    excluded: np.ndarray,
    n: int,
    seeds: np.ndarray,
    config: RecommendConfig,
    seed: int,
    cap_n: int,
) -> list[int]:
    """A diverse sample: farthest-point sampling over a random subset of the catalog (skipping the
    least typical tenth, so the sample isn't all outliers), starting from the most typical track
    or from ``seeds`` (rows already chosen)."""
    cand = np.flatnonzero(~excluded)
    if cand.size == 0 or n <= 0:
        return []
    rng = np.random.default_rng(seed)
    if cand.size > config.sample_size:
        cand = np.sort(rng.choice(cand, config.sample_size, replace=False))
    vecs = catalog.vectors(cand)
    typical = vecs @ catalog.mean_direction
    if cand.size >= 10 * max(n, 1):  # plenty to choose from: skip the least typical tenth
        keep = typical >= np.quantile(typical, 0.1)
        cand, vecs, typical = cand[keep], vecs[keep], typical[keep]
    sel = Selector(catalog, cand, vecs, cap_n, config)
    if seeds.size:
        for v in catalog.vectors(seeds):
            sel.near_picked = np.maximum(sel.near_picked, vecs @ v)
        sel.avail &= sel.near_picked < config.duplicate_cos
        for s in catalog.source_code[seeds]:
            sel.src_count[int(s)] = sel.src_count.get(int(s), 0) + 1
    out: list[int] = []
    first = not seeds.size
    while len(out) < n:
        elig = sel.eligible()
        if not elig.any():
            break
        value = np.where(elig, typical if first else -sel.near_picked, -np.inf)
        i = int(np.argmax(value))
        first = False
        sel.take(i)
        out.append(int(cand[i]))
    return out


def cold_start_rows(
    catalog: Catalog,
    excluded: np.ndarray,
    n: int,
    popular_ids: Sequence[int],
    config: RecommendConfig,
    seed: int,
) -> tuple[list[int], int]:
    """-> (rows, how many of them are popular ones). Popular first (deduplicated, source-capped),
    the rest a farthest-point sample."""
    pop = catalog.rows_for(popular_ids)
    pop = pop[~excluded[pop]]
    _, first_idx = np.unique(pop, return_index=True)
    pop = pop[np.sort(first_idx)]
    chosen: list[int] = []
    if pop.size:
        sel = Selector(catalog, pop, catalog.vectors(pop), n, config)
        while len(chosen) < n:
            elig = sel.eligible()
            if not elig.any():
                break
            i = int(np.argmax(elig))  # the most popular still eligible
            sel.take(i)
            chosen.append(int(pop[i]))
    n_pop = len(chosen)
    if len(chosen) < n:
        mask = excluded.copy()
        mask[pop] = True
        chosen += farthest_point_rows(
            catalog, mask, n - len(chosen), np.asarray(chosen, dtype=np.int64), config, seed, n
        )
    return chosen, n_pop


def cold_start_picks(rows: list[int], n_pop: int, catalog: Catalog) -> list[Pick]:
    picks = []
    for j, r in enumerate(rows):
        t = catalog.tracks[int(catalog.ids[r])]
        lead = "popular in this server" if j < n_pop else "a varied pick from this server"
        picks.append(Pick(t.track_id, 0.0, describe(t, lead), None, None))
    return picks
