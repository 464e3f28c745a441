"""Genre breakdown per 3-second patch over a vocabulary a music fan recognises.

The shares come from a trained head (``models/genre_head.npz``, made by ``models/train_heads.py``
from ../shared/data/train): a shrinkage linear discriminant over both models' outputs for one
patch (musicnn's embedding, tags and pooled features, EfficientAT's embedding, AudioSet class
logits and inner-block taps), with a softmax temperature fitted on held-out folds so the shares
are calibrated. A track's breakdown is the mean of its voting patches' shares, blended with a
vote of the training clips nearest to the whole track (``models/genre_neighbours.npz``,
:class:`inference.heads.NeighbourVote`). On the training folds the blend scores 0.811 against the
head's 0.789 alone; redrawn folds give 0.79-0.80 (models/MODEL_CARD.md).

Punk has no training clip. It is covered by the AudioSet model's own "Punk rock" class: punk takes
part of rock's (and metal's) share, in proportion to AudioSet's Punk rock probability against its
Rock music / Heavy metal probability, and at most ``PUNK_MAX_PART`` of it (:func:`split_punk`).
Measured on ../shared/data/train: without that cap 34 of the 180 rock and metal clips came out
punk; with it none does, and the devset's punk clip shows punk at 12 % next to rock, metal and pop.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from inference.heads import Classifier, NeighbourVote

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "electronic", "folk", "hip-hop", "jazz", "metal",
    "pop", "punk", "reggae", "rnb/soul", "rock",
)  # fmt: skip

PUNK_FROM = {"rock": "Rock music", "metal": "Heavy metal"}  # genre -> its AudioSet class
PUNK_CLASS = "Punk rock"
PUNK_MAX_PART = 0.5

# Aliases so labels match case- and punctuation-insensitively: "hiphop" = "hip-hop", "r&b" = "rnb/soul".
ALIASES = {
    "hiphop": "hip-hop", "rap": "hip-hop", "rnb": "rnb/soul", "randb": "rnb/soul",
    "rnbsoul": "rnb/soul", "soul": "rnb/soul", "rhythmandblues": "rnb/soul",
    "electronica": "electronic", "edm": "electronic", "heavymetal": "metal", "punkrock": "punk",
}  # fmt: skip


def normalise_label(label: str) -> str:
    """Map a free-form label onto the vocabulary when it names one of its genres, else its key."""
    key = re.sub(r"[^a-z0-9]", "", label.lower().replace("&", "and"))
    for genre in GENRES:
        if key == re.sub(r"[^a-z0-9]", "", genre.replace("&", "and")):
            return genre
    return ALIASES.get(key, key)


def display_name(genre: str) -> str:
    return {"rnb/soul": "R&B/soul", "hip-hop": "hip-hop"}.get(genre, genre)


class GenreModel:
    """Per-patch genre shares over ``GENRES`` from the trained head and the AudioSet outputs."""

    def __init__(self, head: Classifier, audioset_labels: list[str], neighbours: NeighbourVote | None = None) -> None:
        missing = (set(head.classes) | set(neighbours.classes if neighbours else ())) - set(GENRES)
        if missing:
            raise ValueError(f"genre classes outside the vocabulary: {sorted(missing)}")
        self.head = head
        self.neighbours = neighbours
        self._cols = [GENRES.index(c) for c in head.classes]
        index = {name: i for i, name in enumerate(audioset_labels)}
        self._punk = index[PUNK_CLASS]
        self._sources = [(GENRES.index(g), index[c]) for g, c in PUNK_FROM.items()]

    def shares(self, features: np.ndarray, audioset: np.ndarray) -> np.ndarray:
        """[N, D] head features and [N, 527] AudioSet probabilities -> [N, G] shares (rows sum to 1)."""
        out = np.zeros((len(features), len(GENRES)), np.float32)
        if len(features):
            out[:, self._cols] = self.head.probs(features)
            split_punk(out, audioset, self._punk, self._sources)
        return out

    @property
    def vote_blocks(self) -> tuple[str, ...]:
        """The feature blocks the neighbour vote reads (the head's when there is no vote)."""
        return self.neighbours.space.blocks if self.neighbours is not None else self.head.blocks

    def track_shares(self, patch_shares: np.ndarray, vote_features: np.ndarray) -> np.ndarray:
        """The track's [G] shares: the mean of its [N, G] patch shares, blended with the neighbour
        vote on the same patches' [N, D] features in :attr:`vote_blocks`."""
        mean = patch_shares.mean(0) if len(patch_shares) else np.zeros(len(GENRES), np.float32)
        if self.neighbours is None or not len(vote_features):
            return mean
        vote = np.zeros(len(GENRES), np.float32)
        vote[[GENRES.index(c) for c in self.neighbours.classes]] = self.neighbours.probs(vote_features)
        return (1.0 - self.neighbours.weight) * mean + self.neighbours.weight * vote


def split_punk(shares: np.ndarray, audioset: np.ndarray, punk_col: int, sources: list[tuple[int, int]]) -> None:
    """In place: each source genre (rock, metal) gives punk the part of its share that AudioSet's
    Punk rock probability takes against that genre's own AudioSet class, at most PUNK_MAX_PART."""
    punk = GENRES.index("punk")
    p_punk = audioset[:, punk_col]
    for genre_col, class_col in sources:
        part = PUNK_MAX_PART * p_punk / np.maximum(p_punk + audioset[:, class_col], 1e-6)
        moved = shares[:, genre_col] * part
        shares[:, genre_col] -= moved
        shares[:, punk] += moved
