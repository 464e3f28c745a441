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
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.keys import Key, make_key, relation

if TYPE_CHECKING:
    from inference.result import Analysis

log = logging.getLogger(__name__)

__all__ = [
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

NOTE_NO_LIKES = "You haven't liked anything yet — react ❤️ to a few tracks."
NOTE_LIKES_ELSEWHERE = (
    "None of the tracks you liked are in this server's catalog yet — react ❤️ to a few here."
)
NOTE_PARTY_NO_LIKES = "Nobody in this party has liked anything yet — react ❤️ to a few tracks."
NOTE_POPULAR = "Meanwhile, popular in this server:"
NOTE_SAMPLE = "Meanwhile, a varied sample of what this server has shared:"
NOTE_EMPTY_CATALOG = (
    "This server's catalog is empty — share some music (an audio file or a link) and I'll have "
    "something to recommend."
)
NOTE_NOTHING_NEW = (
    "You've already liked or been recommended everything here that fits your taste — share more "
    "music and try again."
)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackFeatures:
    """What recommendations need to know about one track.

    ``source`` groups tracks that come from one place (uploader, album, channel, or the person who
    shared it); at most ``max_per_source`` picks share one.
    """

    track_id: int
    embedding: np.ndarray = field(compare=False, repr=False)  # [D] float32, unit norm
    genres: dict[str, float]
    tempo_bpm: float | None
    key: str | None  # pitch class name, e.g. "F#"
    mode: str | None  # "major" | "minor"
    title: str
    source: str
    key_confidence: float = 1.0  # probability that the key is right (the analysis' calibration)

    @classmethod
    def from_analysis(cls, track_id: int, analysis: Analysis, source: str) -> TrackFeatures:
        d = analysis.descriptors
        return cls(
            track_id=int(track_id),
            embedding=np.asarray(analysis.embedding, dtype=np.float32),
            genres=dict(analysis.genres),
            tempo_bpm=d.tempo_bpm,
            key=d.key,
            mode=d.mode,
            title=analysis.title,
            source=source,
            key_confidence=d.key_confidence,
        )

    @property
    def top_genre(self) -> str | None:
        return max(self.genres, key=self.genres.__getitem__) if self.genres else None


def _key_of(t: TrackFeatures) -> Key | None:
    return make_key(t.key, t.mode)


class Catalog:
    """A guild's tracks as arrays, built once and queried many times.

    Attributes:
        ids: ``[N]`` int64 track ids, in input order.
        matrix: ``[N, D]`` float32 unit rows (a transposed view of the stored ``[D, N]`` array).
        tracks: ``{track_id: TrackFeatures}``.
    """

    def __init__(self, tracks: Iterable[TrackFeatures]):
        tracks = list(tracks)
        self.tracks: dict[int, TrackFeatures] = {}
        for t in tracks:
            if int(t.track_id) in self.tracks:
                raise ValueError(f"duplicate track id {t.track_id} in catalog")
            self.tracks[int(t.track_id)] = t
        n = len(tracks)
        self.ids = np.fromiter((int(t.track_id) for t in tracks), dtype=np.int64, count=n)
        if n:
            try:
                emb = np.stack(
                    [np.asarray(t.embedding, dtype=np.float32).reshape(-1) for t in tracks]
                )
            except ValueError as e:
                raise ValueError("catalog embeddings differ in dimension") from e
            if not np.isfinite(emb).all():
                raise ValueError("catalog embeddings contain NaN or inf")
            norms = np.linalg.norm(emb, axis=1, keepdims=True)
            emb /= np.maximum(norms, 1e-12)
        else:
            emb = np.zeros((0, 0), dtype=np.float32)
        self._mt = np.ascontiguousarray(emb.T)  # [D, N]
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._order]
        self.tempo = np.array(
            [t.tempo_bpm if t.tempo_bpm and t.tempo_bpm > 0 else np.nan for t in tracks],
            dtype=np.float64,
        )
        keys = [_key_of(t) for t in tracks]
        self.minor = np.array([-1 if k is None else int(k.minor) for k in keys], dtype=np.int8)
        self.key_pos = np.array([-1 if k is None else k.fifths_position for k in keys], dtype=np.int8)
        self.key_confidence = np.array(
            [0.0 if k is None else min(1.0, max(0.0, float(t.key_confidence))) for k, t in zip(keys, tracks, strict=True)]
        )
        codes: dict[str, int] = {}
        self.source_code = np.array(
            [codes.setdefault(t.source, len(codes)) for t in tracks], dtype=np.int64
        )
        self.n_sources = len(codes)
        # Expected cosine between two distinct random tracks: the "unrelated" level.
        if n >= 2:
            s = emb.sum(axis=0, dtype=np.float64)
            self.baseline = float((s @ s - n) / (n * (n - 1)))
            self.mean_direction = (s / max(np.linalg.norm(s), 1e-12)).astype(np.float32)
        else:
            self.baseline = 0.0
            self.mean_direction = emb[0].copy() if n else np.zeros(0, dtype=np.float32)

    @property
    def matrix(self) -> np.ndarray:
        return self._mt.T

    @property
    def dim(self) -> int:
        return self._mt.shape[0]

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __contains__(self, track_id: object) -> bool:
        return isinstance(track_id, int | np.integer) and int(track_id) in self.tracks

    def __getitem__(self, track_id: int) -> TrackFeatures:
        return self.tracks[int(track_id)]

    def rows_for(self, track_ids: Iterable[int]) -> np.ndarray:
        """Row indices of the given ids that are in the catalog (unknown ids are skipped), in order."""
        q = np.fromiter((int(i) for i in track_ids), dtype=np.int64)
        if q.size == 0 or len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self._sorted_ids, q)
        pos = np.minimum(pos, len(self) - 1)
        hit = self._sorted_ids[pos] == q
        return self._order[pos[hit]]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), D]`` float32 embeddings of the given rows (a copy)."""
        return np.ascontiguousarray(self._mt[:, rows].T)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    track_id: int
    score: float  # relevance in [-1, 1]: α·cos(interest centroid) + (1-α)·cos(nearest liked)
    reason: str
    closest_liked_id: int | None  # None for cold-start picks
    cluster: int | None  # index into TasteProfile.clusters; None for cold-start picks


@dataclass(frozen=True)
class TasteCluster:
    """One interest: a group of liked tracks that sound alike."""

    index: int
    centroid: np.ndarray = field(compare=False, repr=False)  # [D] float32, unit norm
    liked_ids: tuple[int, ...]
    weight: float  # share of the (recency-weighted) likes, all clusters sum to 1
    top_genre: str | None  # the most common top genre among its likes
    cohesion: float  # mean pairwise cosine of its likes (1.0 for a single like)


@dataclass(frozen=True)
class TasteProfile:
    clusters: tuple[TasteCluster, ...]
    liked_ids: tuple[int, ...]
    # Internals reused by ranking: the liked vectors [m, D], their cluster labels [m] and features.
    vectors: np.ndarray = field(compare=False, repr=False)
    labels: np.ndarray = field(compare=False, repr=False)
    liked: tuple[TrackFeatures, ...] = field(compare=False, repr=False)

    @property
    def centroids(self) -> np.ndarray:
        """``[K, D]`` float32."""
        return np.stack([c.centroid for c in self.clusters])


@dataclass(frozen=True)
class Recommendation:
    picks: list[Pick]
    note: str | None = None  # shown above the picks when set (cold start, nothing new, ...)
    profile: TasteProfile | None = None
    cold_start: bool = False


@dataclass(frozen=True)
class PartyPick:
    track_id: int
    score: float  # the primary member's relevance score
    reason: str
    for_member: Hashable | None  # whose turn it filled; None for cold-start picks
    serves: tuple[Hashable, ...]  # members for whom it is in their top 10% (for_member first)
    closest_liked_id: int | None
    cluster: int | None  # index into that member's TasteProfile.clusters


@dataclass(frozen=True)
class MemberReport:
    user_id: Hashable
    status: str  # "ok" | "no likes yet"
    share: int  # picks drafted for this member
    served: int  # picks in this member's top 10% of the catalog (their own and others')
    satisfaction: float | None  # mean over the playlist of the best cosine to one of their likes
    profile: TasteProfile | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PartyPlaylist:
    picks: list[PartyPick]
    members: list[MemberReport]
    note: str | None = None
    cold_start: bool = False


# --------------------------------------------------------------------------------------------
# Taste profile
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Explanations
# --------------------------------------------------------------------------------------------


def key_relation(
    key_a: str | None, mode_a: str | None, key_b: str | None, mode_b: str | None
) -> str | None:
    """How two keys relate, in words, or None when they don't relate closely (or are unknown).

    Same key; relative major/minor (same notes, e.g. D minor / F major); a fifth apart (neighbours
    on the circle of fifths, same mode, e.g. C major / G major).
    """
    a, b = make_key(key_a, mode_a), make_key(key_b, mode_b)
    if a is None or b is None:
        return None
    rel = relation(a, b)
    if rel == "same":
        return f"same key {a.name}"
    if rel == "relative":
        return f"relative keys {a.name} / {b.name}"
    if rel == "fifth":
        return f"keys a fifth apart ({a.name} / {b.name})"
    return None


def _tempo_phrase(t_pick: float | None, t_liked: float | None, tol: float) -> str | None:
    if not t_pick or not t_liked or t_pick <= 0 or t_liked <= 0:
        return None
    a, b = round(t_pick), round(t_liked)
    if abs(t_pick - t_liked) <= tol * max(t_pick, t_liked):
        return f"both {a} BPM" if a == b else f"{a} vs {b} BPM"
    if abs(t_pick - 2 * t_liked) <= tol * t_pick:
        return f"{a} vs {b} BPM (double time)"
    if abs(2 * t_pick - t_liked) <= tol * t_liked:
        return f"{a} vs {b} BPM (half time)"
    return None


def _title(t: TrackFeatures, limit: int = 60) -> str:
    s = " ".join((t.title or "").split()) or f"track #{t.track_id}"
    return s if len(s) <= limit else s[: limit - 1] + "…"


def explain(
    pick: TrackFeatures,
    liked: TrackFeatures,
    similarity: float,
    *,
    who: str = "you",
    config: RecommendConfig = DEFAULT_CONFIG,
) -> str:
    """E.g. "close to 'Vibe Ace' you liked (0.91) · both jazz · 92 vs 90 BPM · same key F major".

    Genre, tempo and key are mentioned only when they really match.
    """
    if pick.track_id == liked.track_id:  # a party may play a member's own like
        owner = "your" if who == "you" else "their"
        return f"one of {owner} likes" + (f" · {pick.top_genre}" if pick.top_genre else "")
    parts = [f"close to '{_title(liked)}' {who} liked ({similarity:.2f})"]
    ga, gb = pick.top_genre, liked.top_genre
    if ga and ga == gb:
        parts.append(f"both {ga}")
    tempo = _tempo_phrase(pick.tempo_bpm, liked.tempo_bpm, config.tempo_close)
    if tempo:
        parts.append(tempo)
    sure = min(pick.key_confidence, liked.key_confidence) >= config.key_confidence_min
    key = key_relation(pick.key, pick.mode, liked.key, liked.mode) if sure else None
    if key:
        parts.append(key)
    return " · ".join(parts)


def _describe(t: TrackFeatures, lead: str) -> str:
    parts = [lead]
    if t.top_genre:
        parts.append(t.top_genre)
    if t.tempo_bpm and t.tempo_bpm > 0:
        parts.append(f"{round(t.tempo_bpm)} BPM")
    key = _key_of(t)
    if key is not None:
        parts.append(key.name)
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------
# Ranking and diverse selection
# --------------------------------------------------------------------------------------------


def _source_cap(n: int, config: RecommendConfig) -> int:
    return config.max_per_source if config.max_per_source is not None else max(1, math.ceil(n / 5))


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


def _exclusion_mask(catalog: Catalog, *id_lists: Iterable[int]) -> np.ndarray:
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


def _top_rows(s: np.ndarray, t: int) -> np.ndarray:
    """Rows of the t largest finite entries of ``s`` [N] (unordered)."""
    t = min(t, s.shape[0])
    if t <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(s, s.shape[0] - t)[s.shape[0] - t :]
    return idx[np.isfinite(s[idx])]


def _exact_scores(
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
    sims = profile.centroids @ catalog._mt  # [K, N], the one pass over the catalog
    if excluded.any():
        sims[:, excluded] = -np.inf
    rows = np.unique(np.concatenate([_top_rows(sims[c], pool) for c in range(sims.shape[0])]))
    vecs = catalog.vectors(rows)
    scores, best_sim, best_like = _exact_scores(
        profile, vecs, sims[:, rows].T, config.centroid_weight
    )
    keep = best_sim < config.duplicate_cos  # another upload of something already liked
    return _Pool(rows[keep], vecs[keep], scores[keep], best_sim[keep], best_like[keep])


class _Selector:
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


def _select_for_profile(
    pool: _Pool, profile: TasteProfile, catalog: Catalog, n: int, config: RecommendConfig
) -> list[tuple[int, int]]:
    """Fill each cluster's quota, most under-filled cluster first. -> [(pool index, cluster)]."""
    weights = np.array([c.weight for c in profile.clusters])
    quota = _allocate(weights, n)
    assigned = np.argmax(pool.scores, axis=1)
    base = pool.scores[np.arange(pool.scores.shape[0]), assigned]
    sel = _Selector(catalog, pool.rows, pool.vecs, n, config)
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


def _farthest_point_rows(
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
    sel = _Selector(catalog, cand, vecs, cap_n, config)
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


def _cold_start_rows(
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
        sel = _Selector(catalog, pop, catalog.vectors(pop), n, config)
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
        chosen += _farthest_point_rows(
            catalog, mask, n - len(chosen), np.asarray(chosen, dtype=np.int64), config, seed, n
        )
    return chosen, n_pop


def _cold_start_picks(rows: list[int], n_pop: int, catalog: Catalog) -> list[Pick]:
    picks = []
    for j, r in enumerate(rows):
        t = catalog.tracks[int(catalog.ids[r])]
        lead = "popular in this server" if j < n_pop else "a varied pick from this server"
        picks.append(Pick(t.track_id, 0.0, _describe(t, lead), None, None))
    return picks


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
        excluded = _exclusion_mask(catalog, exclude, liked_ids)
        rows, n_pop = _cold_start_rows(catalog, excluded, n, popular_ids, config, seed)
        lead = NOTE_LIKES_ELSEWHERE if (liked_ids or liked_tracks) else NOTE_NO_LIKES
        if not rows:
            tail = "" if n == 0 else " There's nothing new to suggest right now."
            return Recommendation([], lead + tail, None, cold_start=True)
        note = f"{lead} {NOTE_POPULAR if n_pop else NOTE_SAMPLE}"
        return Recommendation(_cold_start_picks(rows, n_pop, catalog), note, None, cold_start=True)
    if n == 0:
        return Recommendation([], None, profile)
    excluded = _exclusion_mask(catalog, exclude, profile.liked_ids)
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


# --------------------------------------------------------------------------------------------
# Playlist order
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Party blend
# --------------------------------------------------------------------------------------------


def blend_party(
    members: Mapping[Hashable, Sequence[int]],
    catalog: Catalog,
    n: int = 10,
    exclude: Iterable[int] = (),
    *,
    popular_ids: Sequence[int] = (),
    include_liked: bool = False,
    config: RecommendConfig = DEFAULT_CONFIG,
    seed: int = 0,
) -> PartyPlaylist:
    """One playlist fair to everyone in ``members`` (user id -> liked track ids).

    Each member's utility for a track is their best interest score, normalised so 0 is a typical
    catalog track and 1 is as good as their own top ``ceil(n / members)`` candidates. Drafting: the
    member with the lowest summed utility so far picks next (ties: fewest picks, then input
    order), from their least-served interest, the track maximising ``own + β·mean(others) -
    diversity penalty``. Members without likes are reported as "no likes yet"; if nobody has any,
    the playlist falls back to popular tracks or a varied sample.
    ``include_liked``: allow the members' own liked tracks (excluded by default).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    exclude = list(exclude)
    profiles: dict[Hashable, TasteProfile] = {}
    if len(catalog):
        for uid, likes in members.items():
            p = build_profile(likes, catalog, config=config, seed=seed)
            if p is not None:
                profiles[uid] = p

    def reports(share=None, served=None, sat=None) -> list[MemberReport]:
        out = []
        for uid in members:
            if uid in profiles:
                out.append(
                    MemberReport(
                        uid,
                        "ok",
                        (share or {}).get(uid, 0),
                        (served or {}).get(uid, 0),
                        (sat or {}).get(uid),
                        profiles[uid],
                    )
                )
            else:
                out.append(MemberReport(uid, "no likes yet", 0, 0, None))
        return out

    if len(catalog) == 0:
        return PartyPlaylist([], reports(), NOTE_EMPTY_CATALOG, cold_start=not profiles)
    if not profiles:
        all_likes = [i for likes in members.values() for i in likes]
        rows, n_pop = _cold_start_rows(
            catalog, _exclusion_mask(catalog, exclude, all_likes), n, popular_ids, config, seed
        )
        picks = [
            PartyPick(p.track_id, p.score, p.reason, None, (), None, None)
            for p in _cold_start_picks(rows, n_pop, catalog)
        ]
        note = f"{NOTE_PARTY_NO_LIKES} {NOTE_POPULAR if n_pop else NOTE_SAMPLE}"
        return PartyPlaylist(picks, reports(), note, cold_start=True)
    if n == 0:
        return PartyPlaylist([], reports())

    uids = list(profiles)
    mcount = len(uids)
    liked_all = [] if include_liked else [i for p in profiles.values() for i in p.liked_ids]
    excluded = _exclusion_mask(catalog, exclude, liked_all)
    centroids = np.concatenate([profiles[u].centroids for u in uids])
    offsets = np.cumsum([0] + [len(profiles[u].clusters) for u in uids])
    sims = centroids @ catalog._mt  # [ΣK, N]
    if excluded.any():
        sims[:, excluded] = -np.inf
    fair = math.ceil(n / mcount)
    t = max(config.pool_per_cluster, 6 * fair)
    rows = np.unique(np.concatenate([_top_rows(sims[c], t) for c in range(sims.shape[0])]))
    vecs = catalog.vectors(rows)
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(catalog), min(len(catalog), config.party_sample), replace=False)
    svecs = catalog.vectors(sample)
    ssims = centroids @ svecs.T

    util = np.zeros((rows.size, mcount))
    assigned = np.zeros((rows.size, mcount), dtype=np.int64)
    best_sim = np.zeros((rows.size, mcount), dtype=np.float32)
    best_like = np.zeros((rows.size, mcount), dtype=np.int64)
    norm = np.zeros((rows.size, mcount))
    top = np.zeros((rows.size, mcount), dtype=bool)
    for j, u in enumerate(uids):
        sl = slice(offsets[j], offsets[j + 1])
        sc, bs, bl = _exact_scores(profiles[u], vecs, sims[sl, rows].T, config.centroid_weight)
        assigned[:, j] = np.argmax(sc, axis=1)
        util[:, j] = sc.max(axis=1)
        best_sim[:, j], best_like[:, j] = bs, bl
        background = _exact_scores(profiles[u], svecs, ssims[sl].T, config.centroid_weight)[0].max(
            axis=1
        )
        base = float(np.median(background))
        top[:, j] = util[:, j] >= np.quantile(background, 1.0 - config.serve_top_fraction)
        k_ref = min(fair, rows.size)
        ref = (
            float(np.partition(util[:, j], rows.size - k_ref)[rows.size - k_ref])
            if rows.size
            else base
        )
        norm[:, j] = (
            np.clip((util[:, j] - base) / (ref - base), 0.0, 1.0)
            if ref > base + 1e-9
            else (util[:, j] >= ref)
        )
    keep = np.ones(rows.size, dtype=bool)
    if not include_liked:
        keep = (best_sim < config.duplicate_cos).all(axis=1)

    sel = _Selector(catalog, rows, vecs, n, config)
    sel.avail &= keep
    sat = np.zeros(mcount)
    share = np.zeros(mcount, dtype=np.int64)
    counts = [np.zeros(len(profiles[u].clusters), dtype=np.int64) for u in uids]
    cweights = [np.array([c.weight for c in profiles[u].clusters]) for u in uids]
    drafted: list[tuple[int, int, int, tuple[int, ...]]] = []
    while len(drafted) < n:
        elig = sel.eligible()
        if not elig.any():
            break
        j = int(np.lexsort((np.arange(mcount), share, sat))[0])
        has = np.bincount(assigned[elig, j], minlength=len(counts[j])) > 0
        fill = np.where(has, counts[j] / cweights[j], np.inf)
        c = int(np.lexsort((-cweights[j], fill))[0])
        others = (norm.sum(axis=1) - norm[:, j]) / max(mcount - 1, 1)
        value = norm[:, j] + config.party_others_weight * others - sel.penalty()
        value = np.where(elig & (assigned[:, j] == c), value, -np.inf)
        i = int(np.argmax(value))
        sel.take(i)
        serves = tuple(o for o in dict.fromkeys((j, *range(mcount))) if top[i, o])
        sat += norm[i]
        share[j] += 1
        counts[j][c] += 1
        drafted.append((i, j, c, serves))

    picks = []
    for i, j, c, serves in drafted:
        u = uids[j]
        track = catalog.tracks[int(catalog.ids[rows[i]])]
        liked = profiles[u].liked[int(best_like[i, j])]
        picks.append(
            PartyPick(
                track_id=track.track_id,
                score=float(util[i, j]),
                reason=explain(track, liked, float(best_sim[i, j]), who="they", config=config),
                for_member=u,
                serves=tuple(uids[o] for o in serves),
                closest_liked_id=liked.track_id,
                cluster=c,
            )
        )
    chosen = [i for i, *_ in drafted]
    satisfaction = {
        u: float(best_sim[chosen, j].mean()) if chosen else None for j, u in enumerate(uids)
    }
    shares = {u: int(share[j]) for j, u in enumerate(uids)}
    served = {u: sum(1 for *_, s in drafted if j in s) for j, u in enumerate(uids)}
    note = None
    if not picks:
        note = "Nothing new to play — everything that fits has been played or liked already."
    elif len(picks) < n:
        note = f"Only {len(picks)} track{'s' if len(picks) != 1 else ''} fit so far — the catalog is still small."
    return PartyPlaylist(picks, reports(shares, served, satisfaction), note)
