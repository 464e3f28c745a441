"""What the link-fetching tests share: the fixture files, the limits for the local server, and
small helpers to fetch (as the bot does, or with only the local server allowed), list what a
fetch left behind, and check a message meant for a user."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.fetch import FetchedAudio, FetchLimits, download, fetch_audio
from bot.fetch.addresses import AddressPolicy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

LOCAL = FetchLimits(allow_private=True, timeout_s=15)
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def fetch(
    url: str, tmp_path: Path, limits: FetchLimits = LOCAL, **kwargs: Any
) -> list[FetchedAudio]:
    return fetch_audio(url, tmp_path / "out", limits, **kwargs)


def fetch_local_only(
    url: str, tmp_path: Path, limits: FetchLimits = FetchLimits()
) -> list[FetchedAudio]:
    """Fetch as with allow_private=False, except that the local test server itself is allowed:
    any other private address (another loopback one, link-local, ::1) is refused."""
    policy = AddressPolicy(allow_private=False, also_allowed=frozenset({LOOPBACK}))
    return download._fetch_audio(
        url, tmp_path / "out", limits, playlist=False, progress=None, policy=policy
    )


def leftovers(tmp_path: Path) -> list[str]:
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def assert_user_message(error: BaseException) -> None:
    text = str(error)
    assert text and len(text) < 120, text
    assert "Traceback" not in text and "ERROR" not in text and "yt-dlp" not in text, text
    assert "127.0.0.1" not in text, text  # no URLs echoed back
