"""What the link-fetching tests share: the fixture files, the limits for the local server, and
small helpers to fetch, list what a fetch left behind, and check a message meant for a user."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.fetch import FetchedAudio, FetchLimits, fetch_audio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

LOCAL = FetchLimits(allow_private=True, timeout_s=15)
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def fetch(
    url: str, tmp_path: Path, limits: FetchLimits = LOCAL, **kwargs: Any
) -> list[FetchedAudio]:
    return fetch_audio(url, tmp_path / "out", limits, **kwargs)


def leftovers(tmp_path: Path) -> list[str]:
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def assert_user_message(error: BaseException) -> None:
    text = str(error)
    assert text and len(text) < 120, text
    assert "Traceback" not in text and "ERROR" not in text and "yt-dlp" not in text, text
    assert "127.0.0.1" not in text, text  # no URLs echoed back
