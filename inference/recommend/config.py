"""The tuning knobs of recommendations, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CONFIG", "RecommendConfig"]


@dataclass(frozen=True)
class RecommendConfig:
    """Tuning knobs. The defaults suit 200-d musicnn embeddings; the bot may override any of them
    from its settings.

    Thresholds on similarity are cosines unless said otherwise.
    """

    # Taste profile
    max_clusters: int = 6  # interests per person, at most
    interest_threshold: float = 0.3  # θ: merge interests while avg-link sim >= b + θ(1 - b)
    min_cluster_share: float = 0.04  # smaller interests (share of like weight) are folded in
    micro_clusters: int = 32  # above this many likes, start agglomeration from k-means groups
    # Ranking
    centroid_weight: float = 0.5  # α: score = α·cos(centroid) + (1-α)·cos(nearest liked)
    pool_per_cluster: int = 64  # candidates re-scored exactly per interest (at least 6·n)
    # Diversity
    duplicate_cos: float = 0.97  # above this two tracks count as the same recording
    diversity: float = 0.15  # MMR penalty on similarity to what is already picked
    max_per_source: int | None = None  # None: ceil(n / 5), i.e. 2 of 10
    strict_source_cap: bool = False  # False: lift the cap only when n can't be filled otherwise
    # Explanations
    tempo_close: float = 0.06  # relative tempo difference still called "close"
    key_confidence_min: float = 0.3  # keys less sure than this are not mentioned
    # Playlist transitions
    w_sound: float = 1.0  # weight of (1 - cosine)
    w_tempo: float = 0.5  # weight of |ln(t1/t2)| / ln(1.5), capped at 1
    w_key: float = 0.3  # weight of circle-of-fifths distance / 6 (+0.1 for a mode change),
    # trusted as much as both keys are: see transition_matrix
    # Party
    party_others_weight: float = 0.5  # β: how much a pick should also suit the others
    serve_top_fraction: float = 0.1  # a pick "serves" a member if in their top 10% of the catalog
    party_sample: int = 512  # random tracks used to calibrate each member's utility scale
    # Cold start
    sample_size: int = 4096  # farthest-point sampling runs on a random subset this large


DEFAULT_CONFIG = RecommendConfig()
