"""A downloaded file: where yt-dlp put it, what it is (the analyzer's own prober), and the text
that comes with it, cleaned."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from bot.fetch.session import FetchSession
from inference.audio import AudioLimits, probe
from inference.errors import (
    AudioTooLong,
    CorruptAudio,
    EmptyInput,
    InputTooLarge,
    MissingDecoder,
    NotAudioLink,
    UnsupportedFormat,
)
from inference.formats import sniff_format

__all__ = ["check_file", "clean_optional", "clean_title", "downloaded_path", "non_negative_number"]

log = logging.getLogger(__name__)


def downloaded_path(result: dict[str, Any] | None) -> Path | None:
    if not result:
        return None
    for download in result.get("requested_downloads") or []:
        name = download.get("filepath") or download.get("_filename")
        if name:
            return Path(name)
    name = result.get("filepath") or result.get("_filename")
    return Path(name) if name else None


def check_file(path: Path, session: FetchSession) -> tuple[str, float | None]:
    """(format, duration) of a downloaded file, read by the analyzer's own prober: the one
    sniffer, then libsndfile or ffprobe pinned to the sniffed demuxer and to this one local
    file. Refused when it is not audio, has no audio track, is unreadable or too long."""
    limits = AudioLimits(
        max_bytes=session.limits.max_bytes,
        max_duration_s=session.limits.max_duration_s,
        decode_timeout_s=max(2.0, min(30.0, session.remaining())),
    )
    try:
        info = probe(path, limits)
    except AudioTooLong:
        raise session.too_long_error() from None
    except InputTooLarge:
        raise session.too_large_error() from None
    except EmptyInput:
        raise NotAudioLink("That link gave me an empty file.") from None
    except MissingDecoder:
        # Without ffprobe the length stays unknown: the analyzer's decoded-length cap is the
        # backstop (and the analysis itself will say what is missing).
        log.warning("ffprobe not found: cannot check %s", path.name)
        with path.open("rb") as f:
            head = f.read(4096)  # the sniffer needs only the start, not the whole download
        return sniff_format(head) or "bin", None
    except (UnsupportedFormat, CorruptAudio) as exc:
        log.info("not audio: %s: %s", path.name, exc)
        raise NotAudioLink(str(exc)) from None
    duration = info.duration_s if info.duration_s == info.duration_s else None  # nan: unknown
    return info.format, duration


def non_negative_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None  # not NaN


def clean_optional(value: Any) -> str | None:
    if not value:
        return None
    text = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", str(value))).strip()
    return text[:200] or None


def clean_title(value: Any, path: Path) -> str:
    return clean_optional(value) or path.stem
