"""Content-based recommendations: taste profiles, ranking, diversity, playlist order, party blend.

Pure numpy over plain inputs: the caller (``bot``) loads a guild's tracks from storage into a
:class:`Catalog` once and keeps it; every function here is a cheap query against it.

Vectors are L2-normalised float32, so cosine similarity is a dot product. The catalog stores them
transposed (``[D, N]``, contiguous) because ``centroids @ matrix_T`` with a few centroids is the
hot path and runs 2-4x faster that way than ``matrix @ centroids.T`` with OpenBLAS.

The pieces:

* :func:`build_profile` clusters the liked embeddings (average-linkage agglomeration, stopped by a
  similarity threshold calibrated against the catalog's random-pair similarity) so a person who
  likes jazz and metal has two interests, not one blurred centroid.
* :func:`recommend` scores the catalog against each interest's centroid, re-scores a short pool
  of candidates exactly (similarity to the nearest liked track of that interest), fills each
  interest's slots in proportion to its weight, and picks greedily with maximal-marginal-relevance
  diversity, a near-duplicate filter and a per-source cap; every pick says why in words.
* :func:`order_playlist` chains picks so neighbours sound alike and sit close in tempo and key
  (greedy nearest neighbour, then 2-opt over the summed transition cost).
* :func:`blend_party` drafts a playlist for several people: whoever is least satisfied so far
  picks next, preferring tracks that also suit the others.
* With no likes (or an empty catalog) every entry point answers with a note and a sensible
  fallback (popular tracks, else a farthest-point sample of the catalog), never an error.

One module per job: ``config`` (:class:`RecommendConfig`), ``catalog`` (the inputs),
``results`` (the outputs and their notes), ``profile``, ``rank``, ``diversity`` (the greedy
diverse selection that ranking, cold start and the party blend share), ``cold_start``,
``explain``, ``order`` and ``party``. Import the public names from this package.
"""

from inference.recommend.catalog import Catalog, TrackFeatures
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig
from inference.recommend.explain import explain, key_relation
from inference.recommend.order import order_playlist, playlist_cost, transition_matrix
from inference.recommend.party import blend_party
from inference.recommend.profile import build_profile, recency_weights
from inference.recommend.rank import recommend
from inference.recommend.results import (
    NOTE_EMPTY_CATALOG,
    NOTE_LIKES_ELSEWHERE,
    NOTE_NO_LIKES,
    NOTE_NOTHING_NEW,
    NOTE_PARTY_NO_LIKES,
    NOTE_POPULAR,
    NOTE_SAMPLE,
    MemberReport,
    PartyPick,
    PartyPlaylist,
    Pick,
    Recommendation,
    TasteCluster,
    TasteProfile,
)

__all__ = [
    "DEFAULT_CONFIG",
    "NOTE_EMPTY_CATALOG",
    "NOTE_LIKES_ELSEWHERE",
    "NOTE_NOTHING_NEW",
    "NOTE_NO_LIKES",
    "NOTE_PARTY_NO_LIKES",
    "NOTE_POPULAR",
    "NOTE_SAMPLE",
    "Catalog",
    "MemberReport",
    "PartyPick",
    "PartyPlaylist",
    "Pick",
    "Recommendation",
    "RecommendConfig",
    "TasteCluster",
    "TasteProfile",
    "TrackFeatures",
    "blend_party",
    "build_profile",
    "explain",
    "key_relation",
    "order_playlist",
    "playlist_cost",
    "recency_weights",
    "recommend",
    "transition_matrix",
]
