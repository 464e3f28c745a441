"""The neighbour vote (:class:`inference.heads.NeighbourVote`) for genre and mood: fitting,
out-of-fold votes, and the choice of its size and weight by nested selection on the same
artist-grouped folds.

A track's genre breakdown is the mean of its patches' shares from the per-patch head (its mood: the
mood head's shares), blended with the labels of the k training clips nearest to the whole track. The space is the training
clips' mean feature vectors, standardised and whitened onto their first ``DIMS`` principal
components; similarity is cosine. Measured side by side in ``train_heads.py``'s report.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from inference.heads import NeighbourVote, Projection

DIMS = 64
K_VALUES = (5, 10, 20)
WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5)


def fit_space(means: np.ndarray, blocks: tuple[str, ...], dims: int = DIMS) -> Projection:
    """Standardise [M, D] clip means, then whiten onto their first ``dims`` principal components."""
    mean, scale = means.mean(0), means.std(0) + 1e-6
    z = (means - mean) / scale
    _u, sv, vt = np.linalg.svd(z, full_matrices=False)
    dims = min(dims, int((sv > 1e-6 * sv[0]).sum()))  # whitening a direction with no variance would amplify rounding
    return Projection(blocks, mean, scale, (vt[:dims].T / np.maximum(sv[:dims], 1e-9)).astype(np.float32))


def fit_vote(
    clip_x: Sequence[np.ndarray], labels: Sequence[str], classes: tuple[str, ...], blocks: tuple[str, ...], k: int,
    weight: float, dims: int = DIMS,
) -> NeighbourVote:
    """A vote over the clips whose [n_patches, D] features (columns of ``blocks``) are ``clip_x``."""
    space = fit_space(np.stack([x.mean(0) for x in clip_x]), blocks, dims)
    refs = np.stack([space.embed(x) for x in clip_x])
    return NeighbourVote(space, refs, np.array([classes.index(y) for y in labels]), classes, k, weight)


def out_of_fold_votes(
    clip_x: Sequence[np.ndarray], labels: Sequence[str], groups: Sequence[str], folds: list[np.ndarray],
    classes: tuple[str, ...], blocks: tuple[str, ...],
) -> dict[int, np.ndarray]:
    """For each k in ``K_VALUES``: [n, C] votes for every clip, from a vote fitted on the clips
    whose artist group is not in its fold."""
    n = len(clip_x)
    out = {k: np.zeros((n, len(classes))) for k in K_VALUES}
    for test in folds:
        held = {groups[i] for i in test}
        train = [i for i in range(n) if groups[i] not in held]
        for k in K_VALUES:
            vote = fit_vote([clip_x[i] for i in train], [labels[i] for i in train], classes, blocks, k, 1.0)
            for i in test:
                out[k][i] = vote.probs(clip_x[i])
    return out


def choose_blend(
    head_probs: np.ndarray, votes: dict[int, np.ndarray], y: np.ndarray, folds: list[np.ndarray]
) -> tuple[tuple[int, float], float, dict[str, float]]:
    """The (k, weight) with the best top-1 over all folds, the nested top-1 (each fold scored with
    the setting chosen on the other folds, so the figure is not tuned on what it scores), and the
    top-1 of every setting."""
    hits = {
        (k, w): ((1 - w) * head_probs + w * votes[k]).argmax(1) == y for k, w in product(K_VALUES, WEIGHTS)
    }  # fmt: skip
    nested = np.zeros(len(y), bool)
    for f, test in enumerate(folds):
        rest = np.concatenate([folds[g] for g in range(len(folds)) if g != f])
        best = max(hits, key=lambda c: (hits[c][rest].mean(), -c[1]))
        nested[test] = hits[best][test]
    chosen = max(hits, key=lambda c: (hits[c].mean(), -c[1]))
    grid = {f"k={k}, weight={w}": round(float(v.mean()), 4) for (k, w), v in hits.items()}
    return chosen, round(float(nested.mean()), 4), grid


def kept_setting_report(
    head_probs: np.ndarray, votes: dict[int, np.ndarray], y: np.ndarray, folds: list[np.ndarray], kept: tuple[int, float]
) -> tuple[dict, float, dict[str, float]]:
    """A fixed (k, weight) against the one :func:`choose_blend` would take: top-1 each, and how often
    each moves a track's top class away from the head's own (for genre: the timeline's). Also returns
    the choice's nested top-1 and the grid."""
    chosen, nested, grid = choose_blend(head_probs, votes, y, folds)

    def describe(k: int, w: float) -> dict:
        top = ((1 - w) * head_probs + w * votes[k]).argmax(1)
        return {"k": k, "weight": w, "accuracy": grid[f"k={k}, weight={w}"], "top_off_head": round(float((top != head_probs.argmax(1)).mean()), 4)}

    return {"kept": describe(*kept), "chosen_on_the_folds": describe(*chosen) | {"nested_accuracy": nested}}, nested, grid
