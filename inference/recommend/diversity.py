"""Greedy diverse selection over a set of candidates: no near-duplicates, a per-source cap, and a
maximal-marginal-relevance penalty on similarity to what is already picked."""

from __future__ import annotations

import math

import numpy as np

from inference.recommend.catalog import Catalog
from inference.recommend.config import RecommendConfig

__all__ = ["Selector"]


def _source_cap(n: int, config: RecommendConfig) -> int:
    return config.max_per_source if config.max_per_source is not None else max(1, math.ceil(n / 5))


class Selector:
    """Greedy diverse selection over a candidate pool: no near-duplicates, a per-source cap (lifted
    only when nothing else is left, unless strict), and an MMR penalty on similarity to picks."""

    def __init__(
        self, catalog: Catalog, rows: np.ndarray, vecs: np.ndarray, n: int, config: RecommendConfig
    ):
        self.vecs = vecs
        self.src = catalog.source_code[rows]
        self.avail = np.ones(rows.shape[0], dtype=bool)
        self.near_picked = np.zeros(rows.shape[0], dtype=np.float32)
        self.src_count: dict[int, int] = {}
        self.cap: float = _source_cap(n, config)
        self.strict = config.strict_source_cap
        self.config = config
        self.picked: list[int] = []

    def eligible(self) -> np.ndarray:
        """Boolean [P]; lifts the source cap when it alone blocks every remaining candidate."""
        while True:
            full = np.fromiter(
                (s for s, c in self.src_count.items() if c >= self.cap), dtype=np.int64
            )
            elig = self.avail & ~np.isin(self.src, full) if full.size else self.avail.copy()
            if elig.any() or self.strict or not self.avail.any() or math.isinf(self.cap):
                return elig
            self.cap = math.inf

    def penalty(self) -> np.ndarray:
        return self.config.diversity * np.maximum(self.near_picked, 0.0)

    def take(self, i: int) -> None:
        self.picked.append(i)
        self.avail[i] = False
        s = int(self.src[i])
        self.src_count[s] = self.src_count.get(s, 0) + 1
        self.near_picked = np.maximum(self.near_picked, self.vecs @ self.vecs[i])
        self.avail &= self.near_picked < self.config.duplicate_cos
