"""Distil MTT_musicnn's 50 MagnaTagATune tags onto the MSD_musicnn embedding.

Running a second CNN per patch would double the cost of every analysis. Instead, a linear head
(ridge regression on logits) maps the MSD encoder's 200-d embedding to what MTT_musicnn predicts
for the same patch. Unlabelled audio is enough (the teacher provides the targets); agreement is
measured on clips held out of the fit (grouped K-fold by clip) and recorded in parity.json.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
AUDIO_SUFFIXES = {".ogg", ".mp3", ".flac", ".wav", ".m4a"}
RIDGE = 1.0
TRAIN_HOP_FRAMES = 62  # overlapping patches: ~3x the training examples from the same audio


def default_audio_dirs() -> list[Path]:
    return [REPO / "tests" / "fixtures", REPO.parent / "shared" / "data" / "devset"]


def load_audio_16k(path: Path) -> np.ndarray:
    """Decode any file with ffmpeg to mono float32 at 16 kHz (export-time only)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", "16000", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def overlapping_patches(logmel: np.ndarray, frames: int = 187, hop: int = TRAIN_HOP_FRAMES) -> np.ndarray:
    starts = range(0, logmel.shape[0] - frames + 1, hop)
    return np.stack([logmel[s : s + frames] for s in starts]) if len(starts) else np.zeros((0, frames, 96), np.float32)


@dataclass
class DistillReport:
    kernel: np.ndarray
    bias: np.ndarray
    metrics: dict = field(default_factory=dict)


def fit_ridge(x: np.ndarray, y: np.ndarray, lam: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Least squares with an L2 penalty on the weights (not the bias): y ~ x @ W + b."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    w = np.linalg.solve(xc.T @ xc + lam * len(x) * np.eye(x.shape[1]) / 100.0, xc.T @ yc)
    return w.astype(np.float32), (ym - xm @ w).astype(np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def agreement(pred_logits: np.ndarray, true_logits: np.ndarray, groups: np.ndarray) -> dict:
    """Per-tag correlation of logits and track-level top-5 tag overlap."""
    r = [np.corrcoef(pred_logits[:, j], true_logits[:, j])[0, 1] for j in range(true_logits.shape[1])]
    overlaps = []
    for g in np.unique(groups):
        p = _sigmoid(pred_logits[groups == g]).mean(0)
        t = _sigmoid(true_logits[groups == g]).mean(0)
        overlaps.append(len(set(np.argsort(-p)[:5]) & set(np.argsort(-t)[:5])) / 5)
    return {
        "mean_tag_correlation": float(np.nanmean(r)),
        "median_tag_correlation": float(np.nanmedian(r)),
        "track_top5_overlap": float(np.mean(overlaps)),
        "mean_abs_prob_diff": float(np.mean(np.abs(_sigmoid(pred_logits) - _sigmoid(true_logits)))),
    }


def distill_mtt_head(encoder_onnx: bytes, mtt_full_onnx: bytes, audio_dirs: list[Path], folds: int = 5) -> DistillReport:
    import onnxruntime as ort

    from inference.frontend import log_mel

    enc = ort.InferenceSession(encoder_onnx, providers=["CPUExecutionProvider"])
    mtt = ort.InferenceSession(mtt_full_onnx, providers=["CPUExecutionProvider"])
    files = sorted(p for d in audio_dirs if d.is_dir() for p in d.iterdir() if p.suffix in AUDIO_SUFFIXES)
    xs, ys, groups = [], [], []
    for i, path in enumerate(files):
        patches = overlapping_patches(log_mel(load_audio_16k(path)))
        if not len(patches):
            continue
        xs.append(enc.run(["embedding"], {"patches": patches})[0])
        ys.append(mtt.run(["logits"], {"patches": patches})[0])
        groups.append(np.full(len(patches), i))
    x, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)

    # Held-out agreement: grouped K-fold over clips, so no clip is in its own fit.
    fold_of = np.arange(len(files)) % folds
    pred = np.zeros_like(y)
    for f in range(folds):
        test = fold_of[g] == f
        w, b = fit_ridge(x[~test], y[~test])
        pred[test] = x[test] @ w + b
    metrics = {"clips": len(files), "patches": int(len(x)), "ridge": RIDGE, "held_out": agreement(pred, y, g)}
    w, b = fit_ridge(x, y)
    metrics["in_sample"] = agreement(x @ w + b, y, g)
    return DistillReport(kernel=w, bias=b, metrics=metrics)
