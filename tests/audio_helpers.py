"""Shared test helpers for real audio: fixture paths, decoded samples, and ffmpeg to make more."""

from __future__ import annotations

import subprocess
from functools import cache, lru_cache
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


def ffmpeg(*args: str, timeout: float = 120) -> None:
    """Run ffmpeg with ``args`` (errors only, overwriting outputs). Without ffmpeg this fails the
    test, as each copy it replaced did (the ``convert`` fixture skips up front by itself)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)


@cache
def fixture_analysis(name: str):
    """The Analysis of a fixture, computed once per test process (in-process, one thread)."""
    from inference.analysis import Analyzer

    return Analyzer.load(threads=1).analyze(FIXTURES / name, title=Path(name).stem)


async def preload_analyses(db, names: list[str]) -> None:
    """Store fixture analyses so the service reuses them instead of re-running the models."""
    from bot.service.convert import analysis_to_record

    for name in names:
        await db.put_analysis(analysis_to_record(fixture_analysis(name)))
