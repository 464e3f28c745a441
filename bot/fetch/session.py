"""One fetch's state: the guard that ``GuardedRH`` asks before every connection and every
response body (``bot.fetch.http_handler.Guard``), yt-dlp's hooks, and the watchdog.

When the watchdog fires at the deadline it shuts down every socket the fetch opened (which wakes
any blocked read, even on a server that trickles one byte at a time) and refuses new
connections; body reads and the progress hook also raise once the deadline has passed.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Any, NoReturn

from yt_dlp.utils import DownloadCancelled

from bot.fetch.addresses import (
    BLOCKED_MESSAGE,
    AddressPolicy,
    ip_of,
    is_http_url,
    resolve_for_connect,
)
from bot.fetch.http_handler import (
    DECODED_ENCODINGS,
    MAX_ENCODING_LAYERS,
    GuardRefusal,
    content_encodings,
)
from bot.fetch.limits import FetchLimits, download_timeout, format_mb, format_seconds
from inference.errors import (
    BlockedAddress,
    DownloadTimeout,
    DownloadTooLarge,
    DownloadTooLong,
    FetchError,
    UnsupportedLink,
)

__all__ = ["Abort", "FetchSession", "entry_refusal"]

log = logging.getLogger(__name__)


class Abort(DownloadCancelled):
    """Raised through yt-dlp to stop it; carries our user-facing error (also in session.error).

    A DownloadCancelled subclass because yt-dlp lets those through its extraction wrappers."""

    def __init__(self, error: FetchError) -> None:
        super().__init__(str(error))
        self.error = error


class FetchSession:
    """One fetch's state: the network guard that ``GuardedRH`` asks before every connection and
    every response body (``bot.fetch.http_handler.Guard``), yt-dlp's hooks and the watchdog."""

    def __init__(self, policy: AddressPolicy, limits: FetchLimits) -> None:
        self.policy = policy
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self.error: FetchError | None = None
        self.expired = threading.Event()
        self.rejections: list[FetchError] = []
        self.content_types: dict[str, str] = {}
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        self.extracting = True  # reading pages and manifests (the page size cap applies)

    # errors
    def record(self, error: FetchError) -> FetchError:
        with self._lock:
            if self.error is None:
                self.error = error
            return self.error

    def fail(self, error: FetchError) -> NoReturn:
        raise Abort(self.record(error))

    def start_item(self) -> None:
        """Forget the previous playlist item's error (a fatal one has already ended the fetch)."""
        with self._lock:
            self.error = None

    def timeout_error(self) -> DownloadTimeout:
        return download_timeout(self.limits)

    def too_large_error(self) -> DownloadTooLarge:
        return DownloadTooLarge(
            f"That file is larger than the {format_mb(self.limits.max_bytes)} limit."
        )

    def page_too_large_error(self) -> DownloadTooLarge:
        return DownloadTooLarge(
            f"That web page is larger than the {format_mb(self.limits.max_page_bytes)} I read "
            "from a page."
        )

    def too_long_error(self) -> DownloadTooLong:
        return DownloadTooLong(
            f"That track is longer than the {format_seconds(self.limits.max_duration_s)} limit."
        )

    def timed_out(self) -> bool:
        return self.expired.is_set() or time.monotonic() >= self.deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check_time(self) -> None:
        if self.timed_out():
            self.fail(self.timeout_error())

    # watchdog
    def expire(self) -> None:
        """Called by the watchdog timer: wake every blocked socket and refuse new ones."""
        self.expired.set()
        self.record(self.timeout_error())
        self._shutdown_sockets(close=False)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._shutdown_sockets(close=True)

    def _shutdown_sockets(self, *, close: bool) -> None:
        with self._lock:
            sockets = list(self._sockets)
            if close:
                self._sockets.clear()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # never connected, or already gone
            if close:
                sock.close()

    # the guard GuardedRH asks (bot.fetch.http_handler.Guard)
    def refuse(self, error: FetchError, why: str) -> NoReturn:
        """Record the user-facing error and stop the request inside yt-dlp."""
        raise GuardRefusal(f"{why}: {self.record(error)}")

    def admit(self, url: str) -> None:
        if self.timed_out():
            self.refuse(self.timeout_error(), "time limit reached")
        if not is_http_url(url):
            log.info("refusing a request from yt-dlp to %r", url[:200])
            self.refuse(UnsupportedLink("I can't get audio from that site."), "not an http(s) URL")

    def connect(
        self, host: str, port: int, timeout: float, source_address: tuple[str, int] | None
    ) -> socket.socket:
        """Resolve ``host``, refuse it if any address is not allowed, connect to the very address
        checked (no second lookup: DNS rebinding cannot slip a private address in)."""
        infos = resolve_for_connect(host, port)
        for *_, sockaddr in infos:
            ip = ip_of(sockaddr)
            if self.policy.refuses(ip):
                log.info("refusing to connect to %s (%s)", host, ip)
                self.refuse(BlockedAddress(BLOCKED_MESSAGE), f"{host} resolves to {ip}")
        last_error: OSError | None = None
        for family, socktype, proto, _, sockaddr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                self._register(sock)
                sock.settimeout(max(0.05, min(timeout, self.remaining())))
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                sock.settimeout(timeout)
                return sock
            except OSError as exc:
                last_error = exc
                sock.close()
        assert last_error is not None
        raise last_error

    def _register(self, sock: socket.socket) -> None:
        # Keep a duplicate descriptor: TLS wrapping detaches the original socket object, but
        # shutdown() on the duplicate still ends the connection underneath it.
        with self._lock:
            if self._closed or self.expired.is_set():
                sock.close()
                self.refuse(self.timeout_error(), "time limit reached")
            self._sockets.append(sock.dup())

    def body_limit(self, url: str, status: int, headers: Any) -> int:
        ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype:
            self.content_types[url] = ctype
        encodings = content_encodings(headers)
        if set(encodings) - DECODED_ENCODINGS or len(encodings) > MAX_ENCODING_LAYERS:
            log.info("refusing %s: Content-Encoding %s", url, ", ".join(encodings))
            error = FetchError("That website sent a compressed file I can't unpack.")
            self.refuse(error, f"content-encoding {encodings}")
        declared = _declared_size(status, headers)
        if declared is not None and declared > self.limits.max_bytes:
            log.info("refusing %s: %d bytes declared", url, declared)
            self.refuse(self.too_large_error(), f"{declared} bytes declared")
        if self.extracting:
            return min(self.limits.max_page_bytes, self.limits.max_bytes)
        return self.limits.max_bytes

    def body_too_large(self, url: str, limit: int) -> NoReturn:
        log.info("refusing %s: more than %d bytes", url, limit)
        page = self.extracting and limit < self.limits.max_bytes
        self.fail(self.page_too_large_error() if page else self.too_large_error())

    # yt-dlp hooks
    def match_filter(self, info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        error = entry_refusal(info, self)
        if error is None:
            return None
        self.rejections.append(error)
        return str(error)


def _declared_size(status: int, headers: Any) -> int | None:
    """The full size a response declares: Content-Range's total for a 206, else Content-Length."""
    if status == 206:
        match = re.search(r"/(\d+)\s*$", headers.get("Content-Range") or "")
        return int(match.group(1)) if match else None
    if headers.get("Content-Encoding"):
        return None  # the length is of the compressed body; the read counter still applies
    try:
        return int(headers.get("Content-Length") or "")
    except ValueError:
        return None


def entry_refusal(info: dict[str, Any], session: FetchSession) -> FetchError | None:
    """A limit an entry breaks, judging from what the site declares (None: fine so far)."""
    live = info.get("live_status")
    if info.get("is_live") or live == "is_live":
        return UnsupportedLink("That's a live stream; I can only fetch recordings.")
    if live == "is_upcoming":
        return UnsupportedLink("That stream hasn't started yet.")
    duration = info.get("duration")
    if isinstance(duration, int | float) and duration > session.limits.max_duration_s:
        return session.too_long_error()
    size = info.get("filesize")
    if isinstance(size, int | float) and size > session.limits.max_bytes:
        return session.too_large_error()
    return None
