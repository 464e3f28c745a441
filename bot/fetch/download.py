"""A link to a local audio file, within limits (yt-dlp).

Used by ``/classify <link>`` and ``/catalog add <link>`` through ``bot.fetch.runner``, which
runs each fetch in a worker process that is killed when its time is up. Everything here is
synchronous and blocking; the ``progress`` callback runs in the calling thread.

How the limits are enforced
---------------------------
* **Addresses** (``check_url``): http(s) only; the host is resolved and *every* address it
  resolves to must be public (not private, loopback, link-local, multicast, reserved,
  unspecified, shared/CGNAT, nor an IPv4-mapped / 6to4 / NAT64 form of one), unless
  ``allow_private``. yt-dlp's only request handler is ours (``bot.fetch.http_handler.GuardedRH``,
  installed through YoutubeDL's public ``build_request_director``): every connection it opens is
  made by :meth:`_Session.connect`, which resolves the host, checks every address with the same
  rule and connects to the address it checked. So every request yt-dlp makes is checked right
  before it connects: the page, each redirect hop (followed by the handler, one checked
  connection each), the media URL, HLS/DASH fragments. A DNS answer that changes between the
  check and the download (DNS rebinding) is checked again at connect time and cannot slip a
  private address in. Only ``http``/``https`` are handled at all (no ``ftp:``, ``file:``,
  ``data:``), no proxy is ever used, and ffmpeg is hidden from yt-dlp (it would do its own
  networking).
* **Wall clock** (``timeout_s``): a watchdog timer covers extraction and download together. When it
  fires it shuts down every socket the fetch opened (which wakes any blocked read, even on a
  server that trickles one byte at a time) and refuses new connections; body reads and the
  progress hook also raise once the deadline has passed. ``socket_timeout`` bounds each single
  network operation. CPU-bound parsing cannot be interrupted from inside: the link fetcher kills
  the worker process a few seconds past the deadline.
* **Bytes** (``max_bytes``): (1) the format selector prefers formats whose known size fits; (2) a
  known ``filesize`` over the limit is refused before downloading; (3) any response whose
  ``Content-Length`` (or ``Content-Range`` total) is over the limit is refused as soon as its
  headers arrive; (4) every response body is counted as it arrives and again after its
  content-encoding is undone (a bounded piece at a time: a gzip-in-gzip bomb never inflates
  past the cap), both capped; encodings that cannot be undone that way are refused; (5) the
  progress hook aborts when the downloaded bytes (cumulative over fragments) pass it. yt-dlp's
  own ``max_filesize`` is set too. While the extractor reads pages, manifests and API answers,
  the cap is ``max_page_bytes``: a huge page would keep it parsing for many seconds.
* **Duration** (``max_duration_s``): a ``match_filter`` refuses entries whose duration the site
  declares before anything is downloaded. Plain files (the generic extractor) declare none, so
  after the download the file is probed by the analyser's own ``inference.audio.probe`` (one
  sniffer; libsndfile, or ffprobe pinned to the sniffed demuxer and to the ``file`` protocol for
  that one file) and refused if longer. Without ffprobe the post-check is skipped (logged) for
  what libsndfile cannot read, and the analyser's decoded-duration cap is the backstop.
* **Not audio**: a direct link whose Content-Type is clearly not media (image, text, PDF, ...)
  is refused before downloading (HLS and DASH manifests are media); every downloaded file is
  sniffed and probed for an audio stream, and refused naming what it is (a web page, a
  playlist, a video without sound, ...).
* **Playlists**: off unless ``playlist=True``; then at most ``max_playlist_items`` entries. With
  a playlist, one bad entry (too long, not found, ...) is skipped; a timeout or a blocked address
  stops the whole fetch.

Residual risks (documented, accepted)
-------------------------------------
* DNS resolution itself (``getaddrinfo``) cannot be interrupted: a very slow resolver can
  overrun ``timeout_s`` by the resolver's own timeout (the worker is killed after the grace).
* The guard relies on yt-dlp building its handlers through ``build_request_director`` (public,
  checked against yt-dlp 2026.10). Should a release stop doing so, every response that did not
  come through ``GuardedRH`` is refused (logged as an error); the tests exercise redirects,
  rebinding, HLS fragments and proxies against the real library.
* A request is refused *before* it is sent, but a public server can still make us send a GET to
  another public address (that is what following a link means).
* Extractors that need other transports (websockets, browser impersonation) or a proxy fail
  instead of working.
* ``check_url`` and the connect-time check resolve the name separately; if they disagree, the
  connect-time answer is what is used and checked, so this costs a lookup, not safety.
* ``max_bytes`` and ``max_duration_s`` are per file: a playlist can bring up to
  ``max_playlist_items`` times as much, within the one ``timeout_s``. The page cap applies while
  extracting; an entry extracted lazily during the download phase is capped at ``max_bytes``.
* Hiding ffmpeg means formats that need it (separate audio+video merges, HLS features the
  native downloader lacks) are not used; audio-only formats, which we prefer, need none.
* A process's first fetch spends about 2 s compiling yt-dlp's URL patterns; the link fetcher's
  workers call :func:`warm_up` when they start, outside any fetch's time limit.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yt_dlp
from yt_dlp.networking.exceptions import CertificateVerifyError, IncompleteRead
from yt_dlp.networking.exceptions import HTTPError as _YtdlHTTPError
from yt_dlp.utils import ContentTooShortError, DownloadCancelled, UnsupportedError

from bot.fetch.http_handler import (
    DECODED_ENCODINGS,
    MAX_ENCODING_LAYERS,
    GuardedResponse,
    GuardedRH,
    GuardRefusal,
    content_encodings,
)
from inference.audio import AudioLimits, probe
from inference.errors import (
    AudioTooLong,
    BlockedAddress,
    CorruptAudio,
    DownloadTimeout,
    DownloadTooLarge,
    DownloadTooLong,
    EmptyInput,
    FetchError,
    InputTooLarge,
    LinkNotFound,
    MissingDecoder,
    NotAudioLink,
    UnsupportedFormat,
    UnsupportedLink,
)
from inference.formats import AUDIO_EXTENSIONS, CONTAINERS, sniff_format

__all__ = [
    "FetchLimits",
    "FetchedAudio",
    "ProgressCallback",
    "check_url",
    "download_timeout",
    "fetch_audio",
    "is_public_address",
    "warm_up",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_PROGRESS_INTERVAL_S = 0.25
# Handed to yt-dlp as its ffmpeg location so that it never runs ffmpeg (which would fetch URLs
# itself, outside our address checks and limits). The analyser still uses ffmpeg on local files.
_NO_FFMPEG = "/nonexistent/earworm-hides-ffmpeg-from-yt-dlp"
# Protocols whose bytes all flow through yt-dlp's HTTP stack (and so through our guard).
_ALLOWED_PROTOCOLS = frozenset({"http", "https", "m3u8", "m3u8_native", "http_dash_segments"})
# Content types that are certainly not audio (a direct link to one is refused before download).
# HLS and DASH manifests (application/vnd.apple.mpegurl, application/x-mpegurl,
# application/dash+xml) are media: yt-dlp downloads what they list, through our guard.
_NOT_MEDIA_TYPES = re.compile(
    r"^(?:image/|text/|font/|application/(?:pdf|json|xml|xhtml|zip|gzip|x-tar|javascript"
    r"|x-javascript|msword|vnd\.(?!apple\.mpegurl)|x-7z|x-rar|x-bzip|x-shockwave))"
)


# -- public API ---------------------------------------------------------------------------------


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


def check_url(url: str, allow_private: bool) -> None:
    """Refuse links we must not fetch: non-http(s), unresolvable, or private addresses.

    Raises UnsupportedLink, LinkNotFound or BlockedAddress; returns None when the link is fine.
    Every address the host resolves to is checked (``http://2130706433/``, ``http://0x7f.1/``
    and other numeric spellings resolve to 127.0.0.1 and are refused like it).
    """
    _check_url(url, _AddressPolicy(allow_private=allow_private))


def fetch_audio(
    url: str,
    dest_dir: Path,
    limits: FetchLimits,
    *,
    playlist: bool = False,
    progress: ProgressCallback | None = None,
) -> list[FetchedAudio]:
    """Download the audio behind ``url`` into ``dest_dir`` (created if missing).

    Returns one FetchedAudio, or up to ``limits.max_playlist_items`` with ``playlist=True``.
    Raises a FetchError subclass with a message fit for the user; details go to the log.
    Files are named ``<random>-NN-<id>.<ext>``; on failure nothing is left behind.

    ``progress`` receives dicts: ``{"stage": "resolving", "fraction": 0.0}``, then
    ``{"stage": "downloading", "fraction": 0.4 | None, "item": 1, "items": 3,
    "downloaded_bytes": int, "total_bytes": int | None}`` (fraction is over all items, None while
    the size is unknown; at most about four a second), ``{"stage": "checking", ...}`` and finally
    ``{"stage": "done", "fraction": 1.0}``. It is called in the calling thread; exceptions from it
    are logged and ignored.
    """
    return _fetch_audio(
        url,
        Path(dest_dir),
        limits,
        playlist=playlist,
        progress=progress,
        policy=_AddressPolicy(allow_private=limits.allow_private),
    )


def download_timeout(limits: FetchLimits) -> DownloadTimeout:
    """The error for a fetch that ran out of time, wherever that is noticed."""
    return DownloadTimeout(
        f"The download took longer than {_format_seconds(limits.timeout_s)}, so I gave up."
    )


def warm_up() -> None:
    """Pay yt-dlp's one-time start-up cost now (about 1.5 s: compiling ~1800 extractors' URL
    patterns and importing their modules), e.g. in a worker's initializer, rather than inside the
    first fetch's time limit. No network."""
    from yt_dlp.extractor import gen_extractor_classes

    for ie in gen_extractor_classes():
        ie.suitable("https://example.com/warm-up")
        getattr(ie, "real_class", ie)  # lazy extractors import their module on first use


# -- addresses ----------------------------------------------------------------------------------

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public_address(ip: IPAddress) -> bool:
    """True for a globally routable unicast address (and no private address hidden inside)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and any(ip in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
        if ip.teredo is not None or ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class _AddressPolicy:
    allow_private: bool = False
    # Exact addresses allowed on top of public ones (tests: the local server, and only it).
    also_allowed: frozenset[IPAddress] = frozenset()

    def refuses(self, ip: IPAddress) -> bool:
        return not (self.allow_private or ip in self.also_allowed or is_public_address(ip))


def _ip_of(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


_BLOCKED_MESSAGE = "That link points to a private or local network address, so I won't fetch it."


def _split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or UnsupportedLink."""
    if not isinstance(url, str) or not url.strip():
        raise UnsupportedLink("That isn't a link.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsupportedLink("That link is too long.")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise UnsupportedLink("That link has spaces or control characters in it.")
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsupportedLink("Only http(s) links are supported.")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UnsupportedLink("That link isn't valid.") from None
    if not host:
        raise UnsupportedLink("That link has no website in it.")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo for a TCP connection; LinkNotFound when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        log.info("cannot resolve %r: %s", host, exc)
        raise LinkNotFound("I couldn't find the website in that link.") from None
    if not infos:
        raise LinkNotFound("I couldn't find the website in that link.")
    return infos


def _check_url(url: str, policy: _AddressPolicy) -> None:
    _, host, port = _split_url(url)
    for *_, sockaddr in _resolve(host, port):
        ip = _ip_of(sockaddr)
        if policy.refuses(ip):
            log.info("refusing %r: %s resolves to %s", url, host, ip)
            raise BlockedAddress(_BLOCKED_MESSAGE)


# -- the per-fetch session: network guard, limits, watchdog --------------------------------------


class _Abort(DownloadCancelled):
    """Raised through yt-dlp to stop it; carries our user-facing error (also in session.error).

    A DownloadCancelled subclass because yt-dlp lets those through its extraction wrappers."""

    def __init__(self, error: FetchError) -> None:
        super().__init__(str(error))
        self.error = error


class _Session:
    """One fetch's state: the network guard that ``GuardedRH`` asks before every connection and
    every response body (``bot.fetch.http_handler.Guard``), yt-dlp's hooks and the watchdog."""

    def __init__(self, policy: _AddressPolicy, limits: FetchLimits) -> None:
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
        raise _Abort(self.record(error))

    def start_item(self) -> None:
        """Forget the previous playlist item's error (a fatal one has already ended the fetch)."""
        with self._lock:
            self.error = None

    def timeout_error(self) -> DownloadTimeout:
        return download_timeout(self.limits)

    def too_large_error(self) -> DownloadTooLarge:
        return DownloadTooLarge(
            f"That file is larger than the {_format_mb(self.limits.max_bytes)} limit."
        )

    def page_too_large_error(self) -> DownloadTooLarge:
        return DownloadTooLarge(
            f"That web page is larger than the {_format_mb(self.limits.max_page_bytes)} I read "
            "from a page."
        )

    def too_long_error(self) -> DownloadTooLong:
        return DownloadTooLong(
            f"That track is longer than the {_format_seconds(self.limits.max_duration_s)} limit."
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
        if not _is_http_url(url):
            log.info("refusing a request from yt-dlp to %r", url[:200])
            self.refuse(UnsupportedLink("I can't get audio from that site."), "not an http(s) URL")

    def connect(
        self, host: str, port: int, timeout: float, source_address: tuple[str, int] | None
    ) -> socket.socket:
        """Resolve ``host``, refuse it if any address is not allowed, connect to the very address
        checked (no second lookup: DNS rebinding cannot slip a private address in)."""
        infos = _resolve_raw(host, port)
        for *_, sockaddr in infos:
            ip = _ip_of(sockaddr)
            if self.policy.refuses(ip):
                log.info("refusing to connect to %s (%s)", host, ip)
                self.refuse(BlockedAddress(_BLOCKED_MESSAGE), f"{host} resolves to {ip}")
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
        error = _entry_refusal(info, self)
        if error is None:
            return None
        self.rejections.append(error)
        return str(error)


def _is_http_url(url: str) -> bool:
    """An http(s) URL with a host and a valid port (a redirect's Location may be anything)."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _resolve_raw(host: str, port: int) -> list[tuple[Any, ...]]:
    # Inside urllib: errors must be OSError (gaierror is one) to be reported as network errors.
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)


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


# -- yt-dlp wiring --------------------------------------------------------------------------------


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose only request handler is ours (``GuardedRH``), whatever other handlers
    (urllib, requests, curl_cffi, websockets) yt-dlp has registered."""

    def __init__(self, params: dict[str, Any], session: _Session) -> None:
        self._earworm_session = session
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        guarded = functools.partial(GuardedRH, guard=self._earworm_session)
        return super().build_request_director([guarded], preferences)

    def urlopen(self, req: Any) -> Any:
        response = super().urlopen(req)
        if not isinstance(response, GuardedResponse):
            # Some yt-dlp release found another way to the network: refuse rather than trust it.
            response.close()
            log.error("yt-dlp fetched %s without the address guard; refusing", response.url)
            self._earworm_session.fail(FetchError("I couldn't download that link."))
        return response


class _YtdlpLogger:
    """Routes yt-dlp's messages to our log (it never prints)."""

    def debug(self, msg: str) -> None:
        if not msg.startswith("[debug] "):
            log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error: %s", msg)


def _format_spec(max_bytes: int) -> str:
    """``bestaudio/best``, preferring formats that fit and travel over plain HTTP(S) or HLS."""
    fits = f"[filesize<?{max_bytes}][filesize_approx<?{max_bytes}]"
    preferred = [
        f"{kind}[protocol{proto}]{fits}"
        for kind in ("bestaudio", "best")
        for proto in ("^=http", "^=m3u8")
    ]
    return "/".join([*preferred, "bestaudio", "best"])


def _ytdlp_params(
    limits: FetchLimits,
    dest_dir: Path,
    token: str,
    playlist: bool,
    session: _Session,
    hook: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    return {
        "format": _format_spec(limits.max_bytes),
        "noplaylist": not playlist,
        "playlistend": max(1, limits.max_playlist_items) if playlist else 1,
        "max_filesize": limits.max_bytes,
        "match_filter": session.match_filter,
        "progress_hooks": [hook],
        "socket_timeout": limits.timeout_s,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtdlpLogger(),
        "cachedir": False,
        "paths": {"home": str(dest_dir), "temp": str(dest_dir)},
        "outtmpl": {"default": f"{token}-%(autonumber)02d-%(id).40B.%(ext)s"},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "overwrites": True,
        "ignoreerrors": False,
        "check_formats": False,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 0,
        "skip_unavailable_fragments": False,
        # Only our guarded HTTP stack touches the network: no environment proxy, no ffmpeg
        # downloader (it would fetch HLS/RTMP itself), no post-processing, no remote components.
        "proxy": "",
        "external_downloader": {"default": "native"},
        "ffmpeg_location": _NO_FFMPEG,
        "fixup": "never",
        "postprocessors": [],
        "remote_components": [],
    }


# -- the fetch ------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.items = 1
        self.item = 0
        self._last = 0.0

    def emit(
        self, stage: str, fraction: float | None = None, *, force: bool = True, **extra: Any
    ) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_INTERVAL_S:
            return
        self._last = now
        event: dict[str, Any] = {"stage": stage, "fraction": fraction, **extra}
        try:
            self.callback(event)
        except Exception:
            log.exception("progress callback failed (ignored)")

    def item_fraction(self, fraction: float) -> float:
        return min(1.0, (self.item + max(0.0, min(1.0, fraction))) / max(1, self.items))


def _make_hook(session: _Session, reporter: _Progress) -> Callable[[dict[str, Any]], None]:
    limit = session.limits.max_bytes

    def hook(d: dict[str, Any]) -> None:
        session.check_time()
        done = int(d.get("downloaded_bytes") or 0)
        total = d.get("total_bytes")
        if done > limit or (isinstance(total, int | float) and total > limit):
            session.fail(session.too_large_error())
        expected = total or d.get("total_bytes_estimate")
        fraction = (
            reporter.item_fraction(done / expected)
            if isinstance(expected, int | float) and expected > 0
            else None
        )
        finished = d.get("status") == "finished"
        if finished:
            fraction = reporter.item_fraction(1.0)
        reporter.emit(
            "downloading",
            fraction,
            force=finished,
            item=reporter.item + 1,
            items=reporter.items,
            downloaded_bytes=done,
            total_bytes=int(expected) if expected else None,
        )

    return hook


def _fetch_audio(
    url: str,
    dest_dir: Path,
    limits: FetchLimits,
    *,
    playlist: bool,
    progress: ProgressCallback | None,
    policy: _AddressPolicy,
) -> list[FetchedAudio]:
    _check_url(url, policy)
    url = url.strip()
    dest_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    session = _Session(policy, limits)
    reporter = _Progress(progress)
    reporter.emit("resolving", 0.0)
    watchdog = threading.Timer(limits.timeout_s, session.expire)
    watchdog.daemon = True
    watchdog.start()
    results: list[FetchedAudio] = []
    ok = False
    try:
        params = _ytdlp_params(
            limits, dest_dir, token, playlist, session, _make_hook(session, reporter)
        )
        with _GuardedYoutubeDL(params, session) as ydl:
            try:
                info = ydl.extract_info(url, download=False)
            except Exception as exc:
                raise _translate(exc, session, url) from None
            if session.timed_out():
                raise session.timeout_error()
            session.extracting = False  # from here on: media, capped at max_bytes
            entries = _entries(info)[: limits.max_playlist_items if playlist else 1]
            if not entries:
                if session.rejections:
                    raise session.rejections[0]
                raise NotAudioLink("I couldn't find any audio at that link.")
            reporter.items = len(entries)
            item_errors: list[FetchError] = []
            for index, entry in enumerate(entries):
                reporter.item = index
                try:
                    results.append(
                        _download_entry(
                            ydl, entry, session, reporter, url, single=len(entries) == 1
                        )
                    )
                except FetchError as err:
                    if (
                        not playlist
                        or session.timed_out()
                        or isinstance(err, DownloadTimeout | BlockedAddress)
                    ):
                        raise
                    log.info("playlist %s: skipping item %d: %s", url, index + 1, err)
                    item_errors.append(err)
            if not results:
                raise item_errors[0]
        ok = True
        reporter.emit("done", 1.0, items=len(results))
        return results
    except FetchError as err:
        log.info("fetch %s refused: %s (%s)", url, err, err.code)
        raise
    finally:
        watchdog.cancel()
        session.close()
        keep = {r.path for r in results} if ok else set()
        for leftover in dest_dir.glob(f"{token}-*"):  # partial files, and everything on failure
            if leftover not in keep:
                leftover.unlink(missing_ok=True)


def _entries(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The video entries of an extract_info result (a playlist is flattened)."""
    if not info:
        return []
    if info.get("_type") in ("playlist", "multi_video"):
        found: list[dict[str, Any]] = []
        for entry in info.get("entries") or []:
            found.extend(_entries(entry))
        return found
    return [info]


def _entry_refusal(info: dict[str, Any], session: _Session) -> FetchError | None:
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


def _entry_urls(entry: dict[str, Any]) -> Iterator[str]:
    for fmt in [entry, *(entry.get("requested_formats") or [])]:
        for key in ("url", "manifest_url", "fragment_base_url"):
            value = fmt.get(key)
            if isinstance(value, str) and value:
                yield value


def _precheck_entry(entry: dict[str, Any], session: _Session) -> None:
    """Everything we can refuse before downloading an entry's bytes."""
    error = _entry_refusal(entry, session)
    if error is not None:
        raise error
    if not entry.get("url") and not entry.get("requested_formats"):
        raise (
            session.rejections[0]
            if session.rejections
            else NotAudioLink("I couldn't find any audio at that link.")
        )
    for target in _entry_urls(entry):
        _check_url(target, session.policy)  # early and clear; connect-time checks still apply
    protocols = str(entry.get("protocol") or "").split("+")
    if not all(p in _ALLOWED_PROTOCOLS for p in protocols):
        log.info("refusing protocol %r", entry.get("protocol"))
        raise UnsupportedLink("I can't download that kind of stream.")
    ctype = session.content_types.get(entry.get("url") or "")
    if ctype and _NOT_MEDIA_TYPES.match(ctype):
        log.info("refusing %s: Content-Type %s", entry.get("url"), ctype)
        raise NotAudioLink("That link isn't an audio file.")


def _download_entry(
    ydl: _GuardedYoutubeDL,
    entry: dict[str, Any],
    session: _Session,
    reporter: _Progress,
    page_url: str,
    *,
    single: bool,
) -> FetchedAudio:
    session.start_item()
    _precheck_entry(entry, session)
    reporter.emit(
        "downloading",
        reporter.item_fraction(0.0),
        item=reporter.item + 1,
        items=reporter.items,
        downloaded_bytes=0,
        total_bytes=None,
    )
    try:
        result = ydl.process_ie_result(entry, download=True)
    except Exception as exc:
        raise _translate(exc, session, page_url) from None
    if session.error is not None:
        raise session.error
    if session.timed_out():
        raise session.timeout_error()
    path = _downloaded_path(result)
    if path is None or not path.is_file():
        log.warning("yt-dlp reported no file for %s", entry.get("webpage_url") or page_url)
        raise FetchError("I couldn't download that link.")
    reporter.emit(
        "checking", reporter.item_fraction(1.0), item=reporter.item + 1, items=reporter.items
    )
    fmt, probed_duration = _check_file(path, session)
    duration = _number(result.get("duration")) or probed_duration
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        ext = CONTAINERS[fmt].extensions[0] if fmt in CONTAINERS else fmt
        renamed = path.with_suffix("." + ext)
        path.rename(renamed)
        path = renamed
    extractor = str(result.get("extractor") or result.get("extractor_key") or "unknown")
    title = _clean_title(result.get("track") or result.get("title"), path)
    if single and extractor == "html5":
        title = title.removesuffix(" (1)")  # yt-dlp numbers <audio> entries even when alone
    return FetchedAudio(
        path=path,
        title=title,
        url=str(result.get("webpage_url") or entry.get("webpage_url") or page_url),
        uploader=_clean_optional(
            result.get("uploader")
            or result.get("channel")
            or result.get("artist")
            or result.get("creator")
        ),
        duration_s=duration,
        extractor=extractor,
    )


def _downloaded_path(result: dict[str, Any] | None) -> Path | None:
    if not result:
        return None
    for download in result.get("requested_downloads") or []:
        name = download.get("filepath") or download.get("_filename")
        if name:
            return Path(name)
    name = result.get("filepath") or result.get("_filename")
    return Path(name) if name else None


# -- file checks ----------------------------------------------------------------------------------


def _check_file(path: Path, session: _Session) -> tuple[str, float | None]:
    """(format, duration) of a downloaded file, read by the analyser's own prober: the one
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
        # Without ffprobe the length stays unknown: the analyser's decoded-length cap is the
        # backstop (and the analysis itself will say what is missing).
        log.warning("ffprobe not found: cannot check %s", path.name)
        return sniff_format(path.read_bytes()[:4096]) or "bin", None
    except (UnsupportedFormat, CorruptAudio) as exc:
        log.info("not audio: %s: %s", path.name, exc)
        raise NotAudioLink(str(exc)) from None
    duration = info.duration_s if info.duration_s == info.duration_s else None  # nan: unknown
    return info.format, duration


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None  # not NaN


def _clean_optional(value: Any) -> str | None:
    if not value:
        return None
    text = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", str(value))).strip()
    return text[:200] or None


def _clean_title(value: Any, path: Path) -> str:
    return _clean_optional(value) or path.stem


# -- errors ---------------------------------------------------------------------------------------


def _format_mb(n_bytes: int) -> str:
    mb = n_bytes / 2**20
    return f"{mb:.0f} MB" if mb >= 10 or mb == int(mb) else f"{mb:.1f} MB"


def _format_seconds(seconds: float) -> str:
    if seconds >= 60:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"
    return f"{seconds:g} s"


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


def _translate(exc: BaseException, session: _Session, url: str) -> FetchError:
    """A user-facing FetchError for whatever yt-dlp raised; the details go to the log."""
    if session.error is not None:  # our guard, a hook or the watchdog stopped it
        return session.error
    if session.timed_out():
        return session.timeout_error()
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, _Abort):
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
