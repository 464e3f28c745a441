"""Calibrating a head's shares on held-out folds: the softmax temperature, the tempered
out-of-fold probabilities the neighbour votes are blended with, and the report of what the
temperature does (a timeline stuck at 0.99 / 0.01 is not a breakdown).

``oof`` is what ``train_heads.cross_validate`` returns next to its probabilities: one
(fold head, test clip indices, labels, test positions) per fold; ``clips[i].x`` are a clip's
voting-patch features.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from inference.heads import softmax


def oof_logits(oof: list, clips: list, cols: np.ndarray, per_patch: bool) -> Iterator[tuple[int, np.ndarray]]:
    """(clip index, held-out logits [n, C]) for every clip scored by the fold heads in ``oof``:
    one row per patch, or one of the clip's mean when the head reads the mean."""
    for head, test_clips, _labels, _test in oof:
        for i in test_clips:
            x = clips[i].x[:, cols]
            yield i, head.logits(x if per_patch else x.mean(0, keepdims=True))


def tempered_oof_probs(oof: list, clips: list, cols: np.ndarray, per_patch: bool, temperature: float, n: int, n_classes: int) -> np.ndarray:
    """[n, C] out-of-fold track probabilities at ``temperature`` (per-patch heads: the patches' mean),
    in the order of the folds' test positions."""
    out = np.zeros((n, n_classes))
    for head, test_clips, _labels, test in oof:
        for k, i in zip(test, test_clips, strict=True):
            x = clips[i].x[:, cols]
            out[k] = softmax(head.logits(x if per_patch else x.mean(0, keepdims=True)) / temperature).mean(0)
    return out


def fit_temperature(pairs: list[tuple[np.ndarray, int]]) -> float:
    """The softmax temperature minimising the NLL of held-out patches (grid, then refine)."""
    logits = np.concatenate([z for z, _ in pairs])
    target = np.concatenate([np.full(len(z), t) for z, t in pairs])

    def nll(temp: float) -> float:
        p = softmax(logits / temp)
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(p)), target], 1e-12))))

    grid = np.exp(np.linspace(np.log(0.3), np.log(8.0), 40))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.85, best * 1.15, 13)
    return float(min(fine, key=nll))


def calibration_report(oof, clips, cols, classes, temperature) -> dict:
    """Mean top share vs accuracy of held-out tracks and patches, at temperature 1 and fitted."""
    out = {}
    for name, temp in (("T=1", 1.0), ("fitted", temperature)):
        top_share, correct, patch_top = [], [], []
        for head, test_clips, _l, _t in oof:
            for i in test_clips:
                p = softmax(head.logits(clips[i].x[:, cols]) / temp)
                track = p.mean(0)
                top_share.append(track.max())
                correct.append(classes[int(track.argmax())] == clips[i].row["genre"])
                patch_top.append(p.max(1).mean())
        out[name] = {
            "mean_top_share": round(float(np.mean(top_share)), 3),
            "accuracy": round(float(np.mean(correct)), 3),
            "mean_patch_top_share": round(float(np.mean(patch_top)), 3),
            "share_of_tracks_with_top_over_0.95": round(float(np.mean(np.array(top_share) > 0.95)), 3),
        }
    return out
