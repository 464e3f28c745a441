"""ONNX Runtime sessions for the committed models: one set per process, loaded once.

``models/`` holds musicnn's encoder (patches -> 200-d embedding + pooled features) and two tag
heads (MSD tags with the original weights; MTT tags distilled onto the same embedding), and the
AudioSet model EfficientAT mn04 (32 kHz log-mel patches -> 527 class probabilities + a 384-d
embedding). See models/MODEL_CARD.md for what each output means.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

import models as _model_files  # the committed model files ship as this package's data

MODELS_DIR = Path(os.environ.get("EARWORM_MODELS_DIR", Path(_model_files.__file__).resolve().parent))
ENCODER_FILE = "musicnn_msd_encoder.onnx"
MSD_HEAD_FILE = "msd_head.onnx"
MTT_HEAD_FILE = "mtt_head.onnx"
AUDIOSET_FILE = "efficientat_mn04_as.onnx"
AUDIOSET_LABELS_FILE = "audioset_labels.json"
# Patches per encoder call: each patch in flight costs ~50 MB of activations, and batching is no
# faster on CPU (4-min MP3, one thread: batch 1 vs 2, 1.21-1.27 s vs 1.23-1.31 s, peak 248-253 MB vs 304 MB).
ENCODER_BATCH = 1
AUDIOSET_BATCH = 8  # 3-s patches per EfficientAT call (a few MB of activations each)
AUDIOSET_TAPS = 320  # pooled inner-block features (models/add_audioset_taps.py)


@dataclass(frozen=True)
class PatchOutputs:
    """Per-patch model outputs, row i for patch i."""

    embedding: np.ndarray  # [N, 200] float32
    mean_pool: np.ndarray  # [N, 753]
    max_pool: np.ndarray  # [N, 753]
    msd_tags: np.ndarray  # [N, 50] probabilities
    mtt_tags: np.ndarray  # [N, 50] probabilities


class ModelSet:
    """The encoder and tag heads, with their label lists."""

    def __init__(self, models_dir: Path = MODELS_DIR, threads: int = 1) -> None:
        required = (ENCODER_FILE, MSD_HEAD_FILE, MTT_HEAD_FILE, AUDIOSET_FILE, AUDIOSET_LABELS_FILE)
        missing = [f for f in required if not (models_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"model files missing from {models_dir}: {', '.join(missing)}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(models_dir / ENCODER_FILE), opts, providers=providers)
        self.msd_head = ort.InferenceSession(str(models_dir / MSD_HEAD_FILE), opts, providers=providers)
        self.mtt_head = ort.InferenceSession(str(models_dir / MTT_HEAD_FILE), opts, providers=providers)
        self.audioset = ort.InferenceSession(str(models_dir / AUDIOSET_FILE), opts, providers=providers)
        self.models_dir = models_dir
        self.msd_labels: list[str] = json.loads((models_dir / "msd_labels.json").read_text())
        self.mtt_labels: list[str] = json.loads((models_dir / "mtt_labels.json").read_text())
        self.audioset_labels: list[str] = json.loads((models_dir / AUDIOSET_LABELS_FILE).read_text())

    def encode(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """[N,187,96] -> (embedding [N,200], mean_pool [N,753], max_pool [N,753])."""
        if len(patches) == 0:  # the exported graph cannot reshape an empty batch
            return np.zeros((0, 200), np.float32), np.zeros((0, 753), np.float32), np.zeros((0, 753), np.float32)
        parts = [
            self.encoder.run(None, {"patches": patches[i : i + ENCODER_BATCH]})
            for i in range(0, len(patches), ENCODER_BATCH)
        ]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))  # type: ignore[return-value]

    def tags(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N,200] -> (MSD tag probabilities [N,50], MTT tag probabilities [N,50])."""
        if len(embedding) == 0:
            return np.zeros((0, 50), np.float32), np.zeros((0, 50), np.float32)
        msd = self.msd_head.run(["tags"], {"embedding": embedding})[0]
        mtt = self.mtt_head.run(["tags"], {"embedding": embedding})[0]
        return msd, mtt

    def audioset_run(self, mels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """[N, T, 128] normalised log-mel patches (32 kHz front end) -> (probabilities [N, 527],
        embedding [N, 384], inner-block taps [N, 320])."""
        if len(mels) == 0:
            return np.zeros((0, 527), np.float32), np.zeros((0, 384), np.float32), np.zeros((0, AUDIOSET_TAPS), np.float32)
        parts = [
            self.audioset.run(None, {"mel": np.ascontiguousarray(mels[i : i + AUDIOSET_BATCH].transpose(0, 2, 1)[:, None])})
            for i in range(0, len(mels), AUDIOSET_BATCH)
        ]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))  # type: ignore[return-value]

    def run(self, patches: np.ndarray) -> PatchOutputs:
        emb, mean_pool, max_pool = self.encode(patches)
        msd, mtt = self.tags(emb)
        return PatchOutputs(emb, mean_pool, max_pool, msd, mtt)


_MODELS: ModelSet | None = None


def get_models(threads: int | None = None) -> ModelSet:
    """This process's ModelSet, created on first use (the pool's initializer calls it)."""
    global _MODELS
    if _MODELS is None:
        _MODELS = ModelSet(threads=threads or 1)
    return _MODELS
