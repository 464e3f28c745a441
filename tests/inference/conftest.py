"""Fixtures shared by the inference tests: the recordings folder and an ffmpeg converter."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audio_helpers import ffmpeg

Convert = Callable[..., Path]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """tests/fixtures: real recordings (see LICENSES.md there)."""
    return Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def convert() -> Convert:
    """``convert(src, dst, *ffmpeg_output_args) -> dst``; skips the test without ffmpeg.

    Audio only (``-vn``): the fixtures carry cover art that ffmpeg would turn into video.
    """
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed")

    def run(src: Path, dst: Path, *args: str) -> Path:
        ffmpeg("-i", str(src), "-vn", *args, str(dst))
        return dst

    return run
