"""What one fetch may take (:class:`FetchLimits`), what it brings back (:class:`FetchedAudio`),
and how its limits read in a message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import DownloadTimeout

__all__ = [
    "FetchLimits",
    "FetchedAudio",
    "ProgressCallback",
    "download_timeout",
    "format_mb",
    "format_seconds",
]

ProgressCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class FetchLimits:
    """Limits for one fetch. ``max_bytes`` and ``max_duration_s`` apply to each downloaded file;
    ``timeout_s`` to the whole fetch (extraction, every download and the checks)."""

    max_bytes: int = 50 * 2**20
    max_duration_s: float = 20 * 60
    timeout_s: float = 60
    max_playlist_items: int = 25
    allow_private: bool = False
    # Web pages, manifests and API answers read while finding the audio: a bigger page would
    # keep the extractor parsing for many seconds (yt-dlp's largest, YouTube's player script,
    # is about 3 MB).
    max_page_bytes: int = 5 * 2**20

    def __post_init__(self) -> None:
        for name in (
            "max_bytes", "max_duration_s", "timeout_s", "max_playlist_items", "max_page_bytes"
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"FetchLimits.{name} must be a positive number, not {value!r}")


@dataclass(frozen=True)
class FetchedAudio:
    path: Path
    title: str
    url: str  # the canonical webpage URL
    uploader: str | None
    duration_s: float | None
    extractor: str


def download_timeout(limits: FetchLimits) -> DownloadTimeout:
    """The error for a fetch that ran out of time, wherever that is noticed."""
    return DownloadTimeout(
        f"The download took longer than {format_seconds(limits.timeout_s)}, so I gave up."
    )


def format_mb(n_bytes: int) -> str:
    mb = n_bytes / 2**20
    return f"{mb:.0f} MB" if mb >= 10 or mb == int(mb) else f"{mb:.1f} MB"


def format_seconds(seconds: float) -> str:
    if seconds >= 60:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"
    return f"{seconds:g} s"
