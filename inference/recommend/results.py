"""The outputs: picks, taste profiles, recommendations and party playlists, and the notes shown
above them."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from inference.recommend.catalog import TrackFeatures

__all__ = [
    "NOTE_EMPTY_CATALOG",
    "NOTE_LIKES_ELSEWHERE",
    "NOTE_NOTHING_NEW",
    "NOTE_NO_LIKES",
    "NOTE_PARTY_NO_LIKES",
    "NOTE_POPULAR",
    "NOTE_SAMPLE",
    "MemberReport",
    "PartyPick",
    "PartyPlaylist",
    "Pick",
    "Recommendation",
    "TasteCluster",
    "TasteProfile",
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
