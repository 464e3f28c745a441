"""Shared test helpers for real audio: fixture paths and decoded samples."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_path(name: str) -> Path:
    return FIXTURES / name


@lru_cache(maxsize=16)
def load_fixture(name: str) -> np.ndarray:
    """A fixture decoded to mono float32 16 kHz by the project's own decoder."""
    from inference.audio import decode

    samples, _ = decode(FIXTURES / name)
    samples.setflags(write=False)
    return samples


def sine(freq_hz: float, seconds: float, rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
