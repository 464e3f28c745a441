"""What went wrong, in words for the user: yt-dlp's exceptions (and whatever they wrap) to one
``FetchError``; the details go to the log."""

from __future__ import annotations

import logging
import re
import socket
import urllib.error
from collections.abc import Iterator
from typing import Any

from yt_dlp.networking.exceptions import CertificateVerifyError, IncompleteRead
from yt_dlp.networking.exceptions import HTTPError as _YtdlHTTPError
from yt_dlp.utils import ContentTooShortError, UnsupportedError

from bot.fetch.session import Abort, FetchSession
from inference.errors import (
    DownloadTimeout,
    FetchError,
    LinkNotFound,
    NotAudioLink,
    UnsupportedLink,
)

__all__ = ["translate_error"]

log = logging.getLogger(__name__)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and everything it wraps (cause, context, yt-dlp's exc_info/cause, URLError.reason)."""
    seen: set[int] = set()
    queue: list[Any] = [exc]
    while queue:
        current = queue.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        queue.extend(
            [
                current.__cause__,
                current.__context__,
                getattr(current, "cause", None),
                getattr(current, "reason", None),
                exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
                *(getattr(current, "unexpected_errors", None) or []),
            ]
        )


_CANT_FOLLOW = "That link redirects somewhere I can't follow."


def _http_status_error(status: int) -> FetchError:
    if 300 <= status < 400:  # urllib refused the redirect (to file:, ftp:, ...) or a loop
        return UnsupportedLink(_CANT_FOLLOW)
    if status in (404, 410):
        return LinkNotFound(f"There's nothing at that link (HTTP {status}).")
    if status in (401, 403):
        return FetchError(f"That website wouldn't let me download it (HTTP {status}).")
    if status == 429:
        return FetchError("That website is limiting downloads right now; try again later.")
    if status >= 500:
        return FetchError(f"That website had an error (HTTP {status}); try again later.")
    return FetchError(f"That website answered with an error (HTTP {status}).")


def translate_error(exc: BaseException, session: FetchSession, url: str) -> FetchError:
    """A user-facing FetchError for whatever yt-dlp raised; the details go to the log."""
    if session.error is not None:  # our guard, a hook or the watchdog stopped it
        return session.error
    if session.timed_out():
        return session.timeout_error()
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, Abort):
            return cause.error
        if isinstance(cause, FetchError):
            return cause
    known = _known_error(chain)
    if known is not None:
        log.info("fetch %s failed: %s", url, exc)
        log.debug("yt-dlp traceback for %s", url, exc_info=exc)
        return known
    log.warning("fetch %s failed unexpectedly", url, exc_info=exc)
    return FetchError("I couldn't download that link.")


def _known_error(chain: list[BaseException]) -> FetchError | None:
    for cause in chain:
        if isinstance(cause, UnsupportedError):
            return UnsupportedLink("I can't get audio from that site.")
        if isinstance(cause, _YtdlHTTPError):
            return _http_status_error(cause.status)
        if isinstance(cause, CertificateVerifyError):
            return FetchError("That website's security certificate isn't valid, so I stopped.")
        if isinstance(cause, urllib.error.HTTPError):
            return _http_status_error(cause.code)
        if isinstance(cause, TimeoutError):
            return DownloadTimeout("That website stopped responding, so I gave up.")
        if isinstance(cause, socket.gaierror):
            return LinkNotFound("I couldn't find the website in that link.")
        if isinstance(cause, ConnectionError):
            return FetchError("I couldn't connect to that website.")
        if type(cause).__name__ == "_UnsafeExtensionError":
            return NotAudioLink("That link isn't an audio file.")
        if isinstance(cause, ContentTooShortError | IncompleteRead):
            return FetchError("That website cut the download short; try again later.")
    text = " ".join(str(c) for c in chain)
    if "unknown url type" in text:
        return UnsupportedLink(_CANT_FOLLOW)
    if "Unsupported URL" in text:
        return UnsupportedLink("I can't get audio from that site.")
    if re.search(r"HTTP Error (404|410)", text):
        return LinkNotFound("There's nothing at that link (HTTP 404).")
    if re.search(r"[Rr]equested format is not available|No (?:video|audio) formats found", text):
        return NotAudioLink("I couldn't find any audio at that link.")
    if re.search(r"Downloaded \d+ bytes, expected \d+ bytes", text):
        return FetchError("That website cut the download short; try again later.")
    if "timed out" in text:
        return DownloadTimeout("That website stopped responding, so I gave up.")
    if re.search(
        r"(?i)private|sign in|log ?in|members[- ]only|unavailable|removed|copyright", text
    ):
        return FetchError("That audio isn't available to me (it may be private or removed).")
    return None
