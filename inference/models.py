"""ONNX Runtime sessions for the committed models: one set per process, loaded once.

``models/`` holds the encoder (patches -> 200-d embedding + pooled features) and two tag heads
(MSD tags with the original weights; MTT tags distilled onto the same embedding). See
models/MODEL_CARD.md for what each output means.
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
ENCODER_BATCH = 2  # patches per encoder call: peak memory ~120 MB + 45 MB per patch in flight; larger batches are no faster here


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
        missing = [f for f in (ENCODER_FILE, MSD_HEAD_FILE, MTT_HEAD_FILE) if not (models_dir / f).is_file()]
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
        self.msd_labels: list[str] = json.loads((models_dir / "msd_labels.json").read_text())
        self.mtt_labels: list[str] = json.loads((models_dir / "mtt_labels.json").read_text())

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
