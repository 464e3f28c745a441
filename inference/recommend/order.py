"""Playlist order: neighbours that sound alike and sit close in tempo and key (greedy nearest
neighbour, then 2-opt over the summed transition cost)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from inference.recommend.catalog import Catalog
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig

__all__ = ["order_playlist", "playlist_cost", "transition_matrix"]


def _track_id_of(item: Any) -> int:
    return int(item.track_id) if hasattr(item, "track_id") else int(item)


def transition_matrix(
    track_ids: Sequence[int], catalog: Catalog, config: RecommendConfig = DEFAULT_CONFIG
) -> np.ndarray:
    """Symmetric ``[n, n]`` cost of playing one track right after another (0 on the diagonal).

    ``w_sound·(1 - cos) + w_tempo·min(1, |ln(t1/t2)| / ln 1.5) + w_key·k``; an unknown tempo
    costs half of its weight. The key term ``k`` trusts the keys' relation as much as both keys
    are trusted: with ``c = c1·c2`` (each key's calibrated confidence, the chance it is right),
    ``k = c·(fifths distance / 6 + 0.1 if the mode changes) + (1 - c)·0.5``, so an unknown key,
    or a guess, costs what an unknown one does and a sure key pulls neighbours together.
    """
    rows = catalog.rows_for(track_ids)
    if rows.size != len(track_ids):
        raise KeyError("some track ids are not in the catalog")
    v = catalog.vectors(rows)
    sound = np.clip(1.0 - v @ v.T, 0.0, 2.0).astype(np.float64)
    lt = np.log(catalog.tempo[rows])
    tempo = np.minimum(np.abs(lt[:, None] - lt[None, :]) / np.log(1.5), 1.0)
    tempo = np.where(np.isnan(tempo), 0.5, tempo)
    pos = catalog.key_pos[rows].astype(np.int64)
    minor = catalog.minor[rows].astype(np.int64)
    d = np.abs(pos[:, None] - pos[None, :])
    key = np.minimum(d, 12 - d) / 6.0 + 0.1 * (minor[:, None] != minor[None, :])
    conf = catalog.key_confidence[rows]
    trust = conf[:, None] * conf[None, :]  # 0 where either key is unknown
    key = trust * key + (1.0 - trust) * 0.5
    cost = config.w_sound * sound + config.w_tempo * tempo + config.w_key * key
    np.fill_diagonal(cost, 0.0)
    return cost


def _path_cost(cost: np.ndarray, order: Sequence[int]) -> float:
    o = np.asarray(order)
    return float(cost[o[:-1], o[1:]].sum()) if o.size > 1 else 0.0


def playlist_cost(
    track_ids: Sequence[int], catalog: Catalog, config: RecommendConfig = DEFAULT_CONFIG
) -> float:
    """Sum of transition costs between consecutive tracks, in the given order."""
    ids = [_track_id_of(t) for t in track_ids]
    return _path_cost(transition_matrix(ids, catalog, config), range(len(ids)))


def _nearest_neighbour_chain(cost: np.ndarray, start: int) -> list[int]:
    n = cost.shape[0]
    seen = np.zeros(n, dtype=bool)
    order = [start]
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, cost[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        seen[nxt] = True
    return order


def _two_opt(cost: np.ndarray, order: list[int], fixed_start: bool) -> list[int]:
    """Best-improvement 2-opt for an open path (segment reversals); symmetric ``cost``."""
    n = len(order)
    if n < 3:
        return order
    # Pad with a dummy node (index n, zero cost to everything) at both ends of the path.
    c = np.zeros((n + 1, n + 1))
    c[:n, :n] = cost
    path = np.array([n, *order, n])
    lo = 2 if fixed_start else 1
    i_idx, j_idx = np.triu_indices(n + 1, k=1)
    ok = (i_idx >= lo) & (j_idx <= n)
    i_idx, j_idx = i_idx[ok], j_idx[ok]
    for _ in range(n * n):
        a, b = path[i_idx - 1], path[i_idx]
        e, f = path[j_idx], path[j_idx + 1]
        delta = c[a, e] + c[b, f] - c[a, b] - c[e, f]
        best = int(np.argmin(delta))
        if delta[best] >= -1e-12:
            break
        i, j = i_idx[best], j_idx[best]
        path[i : j + 1] = path[i : j + 1][::-1].copy()
    return [int(x) for x in path[1:-1]]


def order_playlist(
    picks: Sequence[Any],
    catalog: Catalog,
    *,
    keep_first: bool = True,
    config: RecommendConfig = DEFAULT_CONFIG,
) -> list:
    """Reorder picks (``Pick``/``PartyPick`` objects or plain track ids) for smooth transitions.

    Greedy nearest-neighbour chains (from the first pick when ``keep_first``, the strongest
    recommendation opening the set; otherwise from every start, keeping the cheapest), improved by
    2-opt over :func:`transition_matrix`. Never worse than the input order. Items whose track is
    not in the catalog keep their relative order at the end.
    """
    items = list(picks)
    known = [it for it in items if _track_id_of(it) in catalog]
    unknown = [it for it in items if _track_id_of(it) not in catalog]
    if len(known) < 3:
        return known + unknown
    cost = transition_matrix([_track_id_of(it) for it in known], catalog, config)
    n = len(known)
    starts = [0] if keep_first else range(n)
    best = min(
        (_nearest_neighbour_chain(cost, s) for s in starts), key=lambda o: _path_cost(cost, o)
    )
    candidates = [_two_opt(cost, best, keep_first), _two_opt(cost, list(range(n)), keep_first)]
    order = min(candidates, key=lambda o: _path_cost(cost, o))
    if _path_cost(cost, order) > _path_cost(cost, range(n)):
        order = list(range(n))
    return [known[i] for i in order] + unknown
