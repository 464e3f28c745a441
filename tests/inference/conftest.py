"""Fixtures shared by the inference tests: the recordings folder and an ffmpeg converter."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

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
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-vn", *args, str(dst)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return dst

    return run
