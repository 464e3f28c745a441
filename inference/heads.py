"""The trained heads: genre and mood classifiers and the similarity embedding, in numpy.

All three read the same per-patch feature vector, built from both models' outputs by
:func:`feature_matrix` (named blocks, so a head says which parts it uses). ``models/train_heads.py``
fits them on ../shared/data/train and writes small ``.npz`` files (weights only); here they are
applied with a few matrix products. See models/MODEL_CARD.md for how each was chosen.

- :class:`Classifier`: standardise, optional ReLU hidden layer, linear layer, softmax at a
  temperature fitted on held-out folds (so shares are calibrated, not 0.99 / 0.01).
- :class:`Projection`: standardise the track's mean feature vector, project, L2-normalise.
- :class:`NeighbourVote`: the labels of the training clips nearest to the track, in a whitened
  space of their mean feature vectors (a track-level second opinion next to a head).
- :class:`MoodModel`: the mood head, blended with its neighbour vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from inference.features import PatchFeatures

BLOCK_DIMS = {
    "musicnn": 200, "audioset_emb": 384, "audioset_logit": 527, "tags_logit": 100, "mean_pool": 753, "max_pool": 753,
    "audioset_taps": 320,
}  # fmt: skip
_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def feature_matrix(feats: PatchFeatures, blocks: tuple[str, ...], rows: np.ndarray | None = None) -> np.ndarray:
    """[N, D] float32 concatenation of the named blocks for the patches in ``rows`` (all if None)."""
    sel = slice(None) if rows is None else rows
    parts = {
        "musicnn": lambda: feats.musicnn[sel],
        "audioset_emb": lambda: feats.audioset_emb[sel],
        "audioset_logit": lambda: _logit(feats.audioset[sel]),
        "tags_logit": lambda: _logit(np.concatenate([feats.msd[sel], feats.mtt[sel]], axis=1)),
        "mean_pool": lambda: feats.mean_pool[sel],
        "max_pool": lambda: feats.max_pool[sel],
        "audioset_taps": lambda: feats.audioset_taps[sel],
    }
    unknown = [b for b in blocks if b not in parts]
    if unknown:
        raise ValueError(f"unknown feature blocks {unknown}")
    return np.concatenate([parts[b]() for b in blocks], axis=1).astype(np.float32, copy=False)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _strs(a: np.ndarray) -> tuple[str, ...]:
    return tuple(str(x) for x in a)


@dataclass(frozen=True)
class Classifier:
    """Standardise -> [ReLU hidden layer] -> linear -> softmax(logits / temperature)."""

    blocks: tuple[str, ...]
    classes: tuple[str, ...]
    mean: np.ndarray  # [D]
    scale: np.ndarray  # [D]
    weights: np.ndarray  # [C, H or D]
    bias: np.ndarray  # [C]
    temperature: float = 1.0
    hidden_weights: np.ndarray | None = None  # [H, D]
    hidden_bias: np.ndarray | None = None  # [H]

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale
        if self.hidden_weights is not None:
            h = np.maximum(h @ self.hidden_weights.T + self.hidden_bias, 0.0)
        return h @ self.weights.T + self.bias

    def probs(self, x: np.ndarray) -> np.ndarray:
        """[N, D] -> [N, C] rows summing to 1."""
        return softmax(self.logits(x) / self.temperature)

    def save(self, path: Path, **extra: np.ndarray) -> None:
        arrays = {k: np.asarray(v) for k, v in extra.items()}
        if self.hidden_weights is not None:
            arrays.update(hidden_weights=self.hidden_weights.astype(np.float32), hidden_bias=self.hidden_bias.astype(np.float32))
        np.savez_compressed(
            path, blocks=np.array(self.blocks), classes=np.array(self.classes),
            mean=self.mean.astype(np.float32), scale=self.scale.astype(np.float32),
            weights=self.weights.astype(np.float32), bias=self.bias.astype(np.float32),
            temperature=np.float32(self.temperature), **arrays,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Classifier:
        with np.load(path) as z:
            return cls(
                blocks=_strs(z["blocks"]), classes=_strs(z["classes"]),
                mean=z["mean"], scale=z["scale"], weights=z["weights"], bias=z["bias"],
                temperature=float(z["temperature"]),
                hidden_weights=z["hidden_weights"] if "hidden_weights" in z.files else None,
                hidden_bias=z["hidden_bias"] if "hidden_bias" in z.files else None,
            )  # fmt: skip


@dataclass(frozen=True)
class Projection:
    """The similarity embedding: a track's mean feature vector, standardised, projected, unit norm."""

    blocks: tuple[str, ...]
    mean: np.ndarray  # [D]
    scale: np.ndarray  # [D]
    matrix: np.ndarray  # [D, K]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def embed(self, x: np.ndarray) -> np.ndarray:
        """[N, D] patch features -> [K] float32 unit vector (the mean over the patches)."""
        v = ((x.mean(axis=0) - self.mean) / self.scale) @ self.matrix
        return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, blocks=np.array(self.blocks), mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32), matrix=self.matrix.astype(np.float32),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Projection:
        with np.load(path) as z:
            return cls(_strs(z["blocks"]), z["mean"], z["scale"], z["matrix"])


@dataclass(frozen=True)
class NeighbourVote:
    """Track-level evidence (genre or mood): the labels of the ``k`` training clips nearest to the track,
    each weighted by its cosine similarity, in the whitened principal space ``space`` of their mean
    feature vectors. ``refs`` are those clips' projected unit vectors (derived numbers, no audio)."""

    space: Projection
    refs: np.ndarray  # [M, K] unit vectors of the training clips
    labels: np.ndarray  # [M] index into ``classes``
    classes: tuple[str, ...]
    k: int
    weight: float  # its share of the track's breakdown, the patches' mean having the rest

    def probs(self, x: np.ndarray) -> np.ndarray:
        """[N, D] patch features of one track -> [C] vote shares summing to 1 (0 with no patch)."""
        if not len(x):
            return np.zeros(len(self.classes), np.float32)
        sims = self.refs @ self.space.embed(x)
        nearest = np.argpartition(-sims, min(self.k, len(sims)) - 1)[: self.k]
        votes = np.bincount(self.labels[nearest], np.maximum(sims[nearest], 0.0), minlength=len(self.classes))
        return (votes / max(float(votes.sum()), 1e-9)).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, blocks=np.array(self.space.blocks), mean=self.space.mean.astype(np.float32),
            scale=self.space.scale.astype(np.float32), matrix=self.space.matrix.astype(np.float32),
            refs=self.refs.astype(np.float32), labels=self.labels.astype(np.int16),
            classes=np.array(self.classes), k=np.int32(self.k), weight=np.float32(self.weight),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> NeighbourVote:
        with np.load(path) as z:
            space = Projection(_strs(z["blocks"]), z["mean"], z["scale"], z["matrix"])
            return cls(space, z["refs"], z["labels"].astype(np.intp), _strs(z["classes"]), int(z["k"]), float(z["weight"]))


@dataclass(frozen=True)
class MoodModel:
    """A track's mood quadrant shares: the head (per patch then averaged, or on the patches' mean),
    blended with the vote of the nearest training clips when there is one (models/MODEL_CARD.md)."""

    head: Classifier
    per_patch: bool
    neighbours: NeighbourVote | None = None

    def __post_init__(self) -> None:
        vote = self.neighbours
        if vote is not None and (vote.classes != self.head.classes or vote.space.blocks != self.head.blocks):
            raise ValueError("the mood vote must read the head's blocks and give the head's classes")

    def probs(self, x: np.ndarray) -> np.ndarray:
        """[N, D] voting patches (the head's blocks) -> [C] shares summing to 1 (zeros with none)."""
        if not len(x):
            return np.zeros(len(self.head.classes), np.float32)
        p = self.head.probs(x).mean(0) if self.per_patch else self.head.probs(x.mean(0, keepdims=True))[0]
        if self.neighbours is None:
            return p
        return (1.0 - self.neighbours.weight) * p + self.neighbours.weight * self.neighbours.probs(x)

    @classmethod
    def load(cls, head_path: Path, neighbours_path: Path | None = None) -> MoodModel:
        with np.load(head_path) as z:
            per_patch = bool(z["per_patch"]) if "per_patch" in z.files else True
        vote = NeighbourVote.load(neighbours_path) if neighbours_path is not None else None
        return cls(Classifier.load(head_path), per_patch, vote)
