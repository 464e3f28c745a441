"""The only way yt-dlp reaches the network during a fetch: a request handler of ours.

yt-dlp's public networking interface is :class:`yt_dlp.networking.RequestHandler`: a class
whose ``_send(request)`` turns a ``Request`` into a ``Response``. ``GuardedRH`` implements it on
``http.client`` so that the fetch (``bot.fetch``) decides everything that matters:

* **Where it connects.** Every connection, the first request and each redirect hop alike, is
  opened by the guard (``Guard.connect``): it resolves the host, refuses the request if any
  address is not allowed, and connects to the very address it checked (no second lookup, so a
  DNS answer that changes in between cannot slip a private address in). Only ``http`` and
  ``https`` are handled; proxies are never used (a request that asks for one is refused);
  redirects are followed here, hop by hop, each one checked the same way.
* **How much it reads.** A response body is counted twice, as it arrives (the wire) and after
  decoding, and both counts are capped. ``gzip`` and ``deflate`` content-encodings are decoded
  as the bytes stream, a bounded piece at a time, however many layers: a 980-byte gzip-in-gzip
  body that inflates to 512 MiB costs one buffer, then the cap stops it. Encodings we cannot
  decode in bounded steps (``br``, ``zstd``, ...) are never asked for, and the guard refuses a
  response that has them (``Guard.body_limit``) before its body is read.
* **When it stops.** The guard's deadline is checked before each request and each read.

The handler never raises anything but yt-dlp's own ``RequestError`` family for transport
problems (so yt-dlp reports and retries them as usual), ``GuardRefusal`` (a ``RequestError``
that is not a ``TransportError``: neither retried nor swallowed by extractors) for a request the
guard refuses, and whatever the guard raises from a body read (the fetch's own cancellation).
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import string
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from yt_dlp.networking import Request, RequestHandler, Response
from yt_dlp.networking.common import Features
from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    IncompleteRead,
    RequestError,
    SSLError,
    TransportError,
)
from yt_dlp.utils.networking import normalize_url

__all__ = [
    "DECODED_ENCODINGS",
    "MAX_ENCODING_LAYERS",
    "Guard",
    "GuardRefusal",
    "GuardedRH",
    "GuardedResponse",
    "content_encodings",
]

MAX_REDIRECTS = 10
#: Content-encodings undone in bounded steps (anything else is refused, and never asked for).
DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
_CHUNK = 64 * 1024  # wire reads and decoded pieces: the most any one step holds in memory
MAX_ENCODING_LAYERS = 2  # gzip inside gzip at most
_REDIRECTS = (301, 302, 303, 307, 308)
_URL_SAFE = string.punctuation  # quote only what cannot appear in a URL as it is


class GuardRefusal(RequestError):
    """The guard refused a request (address, scheme, deadline, declared size). Its user-facing
    reason is recorded by the guard; this only carries it out of yt-dlp."""


class Guard(Protocol):
    """What the handler asks of the fetch that owns it."""

    def admit(self, url: str) -> None:
        """Before each request and redirect hop: raise GuardRefusal to refuse it."""

    def connect(
        self, host: str, port: int, timeout: float, source_address: tuple[str, int] | None
    ) -> socket.socket:
        """A connected socket to an allowed address of ``host``; GuardRefusal or OSError."""

    def body_limit(self, url: str, status: int, headers: Any) -> int:
        """Before reading a response: the most bytes its body may have (wire and decoded);
        may raise GuardRefusal (for instance when the declared size is already too large), and
        must for content-encodings outside ``DECODED_ENCODINGS`` or more than
        ``MAX_ENCODING_LAYERS`` of them: the handler decodes only those."""

    def body_too_large(self, url: str, limit: int) -> NoReturn:
        """A body went past ``limit`` while being read: raise (never returns)."""

    def check_time(self) -> None:
        """Raise once the fetch's deadline has passed."""


class _Connection(http.client.HTTPConnection):
    """One HTTP(S) connection whose socket comes from the guard."""

    def __init__(
        self,
        guard: Guard,
        host: str,
        port: int,
        timeout: float,
        source_address: tuple[str, int] | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(host, port, timeout=timeout, source_address=source_address)
        self.guard = guard
        self.tls = tls
        self.default_port = 443 if tls is not None else 80  # for the Host header

    def connect(self) -> None:
        sock = self.guard.connect(self.host, self.port, self.timeout, self.source_address)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


class GuardedRH(RequestHandler):
    """yt-dlp request handler: http(s) through the guard, bodies counted and capped."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()  # a request that wants a proxy is refused
    _SUPPORTED_FEATURES = (Features.ALL_PROXY, Features.NO_PROXY)
    RH_NAME = "earworm-guarded"

    def __init__(self, *, guard: Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> Response:
        url, method, data = request.url, request.method, request.data
        headers = self._get_headers(request)
        headers.setdefault("Accept-Encoding", "gzip, deflate")  # what we decode in bounded steps
        headers["Connection"] = "close"
        cookiejar = self._get_cookiejar(request)
        timeout = self._calculate_timeout(request)
        tls = None
        for _hop in range(MAX_REDIRECTS + 1):
            self.guard.admit(url)
            parts = urllib.parse.urlsplit(url)
            if parts.scheme == "https" and tls is None:
                tls = self._make_sslcontext(legacy_ssl_support=request.extensions.get("legacy_ssl"))
            jar_request = urllib.request.Request(url, headers=headers, method=method)
            cookiejar.add_cookie_header(jar_request)
            sent = dict(jar_request.header_items())
            raw = self._exchange(
                parts, method, data, sent, timeout, tls if parts.scheme == "https" else None
            )
            cookiejar.extract_cookies(raw, jar_request)
            location = raw.getheader("Location")
            if raw.status not in _REDIRECTS or not location or _hop == MAX_REDIRECTS:
                break
            raw.close()
            previous = parts.hostname
            # Header bytes arrive as latin-1 text: quote them back to the bytes sent (as urllib
            # does, so a UTF-8 path survives), then escape as yt-dlp escapes request URLs.
            target = urllib.parse.quote(location.strip(), encoding="iso-8859-1", safe=_URL_SAFE)
            try:
                url = normalize_url(urllib.parse.urljoin(url, target))
            except (ValueError, UnicodeError) as exc:
                raise TransportError(cause=exc) from exc
            new_method = _redirect_method(method, raw.status)
            if new_method != method:
                data = None
                for name in ("Content-Length", "Content-Type"):
                    headers.pop(name, None)
            method = new_method
            headers.pop("Cookie", None)
            if urllib.parse.urlsplit(url).hostname != previous:
                headers.pop("Authorization", None)  # credentials stay with their host
        response = self._response(url, raw)
        if response.status >= 400 or response.status in _REDIRECTS:
            raise HTTPError(response, redirect_loop=response.status in _REDIRECTS)
        return response

    def _exchange(
        self,
        parts: urllib.parse.SplitResult,
        method: str,
        data: Any,
        headers: dict[str, str],
        timeout: float,
        tls: ssl.SSLContext | None,
    ) -> http.client.HTTPResponse:
        """Send one request on a new guarded connection; the response's headers are read."""
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        # guard.admit has refused a URL whose port is not a valid one, so this cannot raise.
        port = parts.port or (443 if parts.scheme == "https" else 80)
        conn = _Connection(self.guard, parts.hostname or "", port, timeout, self._source(), tls)
        try:
            conn.request(method, path, body=data, headers=headers)
            raw = conn.getresponse()
        except RequestError:
            conn.close()
            raise
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise CertificateVerifyError(cause=exc) from exc
        except ssl.SSLError as exc:
            conn.close()
            raise SSLError(cause=exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(cause=exc) from exc
        return raw

    def _source(self) -> tuple[str, int] | None:
        return (self.source_address, 0) if self.source_address else None

    def _response(self, url: str, raw: http.client.HTTPResponse) -> GuardedResponse:
        try:
            # Refuses encodings we cannot decode in bounded steps, and too many layers of them.
            limit = self.guard.body_limit(url, raw.status, raw.headers)
        except BaseException:
            raw.close()
            raise
        encodings = content_encodings(raw.headers)
        headers = {k: v for k, v in raw.headers.items()}
        if encodings:
            # What the caller reads is the decoded body: its length is not the one declared.
            headers = {
                k: v
                for k, v in headers.items()
                if k.lower() not in ("content-encoding", "content-length")
            }
        body = _Body(raw, encodings, limit, self.guard, url)
        return GuardedResponse(body, url, headers, raw.status, raw.reason)


def content_encodings(headers: Any) -> list[str]:
    """The content-encodings of a response, in the order they were applied ("identity" left
    out): ``Content-Encoding: gzip, gzip`` -> ["gzip", "gzip"]."""
    listed = ",".join(headers.get_all("Content-Encoding") or [])
    return [e for e in (p.strip().lower() for p in listed.split(",")) if e and e != "identity"]


def _redirect_method(method: str, status: int) -> str:
    """As browsers do: 303 turns anything but HEAD into GET, 301/302 turn POST into GET."""
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


class GuardedResponse(Response):
    """A response read through the guard's counters. Read errors become yt-dlp's transport
    errors, except the guard's own stop (over the limit, out of time), which passes through."""

    def read(self, amt: int | None = None) -> bytes:
        if self.closed:
            return b""
        try:
            data = self.fp.read(-1 if amt is None else amt)
        except http.client.IncompleteRead as exc:
            raise IncompleteRead(
                partial=len(exc.partial), expected=exc.expected, cause=exc
            ) from exc
        except ssl.SSLError as exc:
            raise SSLError(cause=exc) from exc
        except (OSError, http.client.HTTPException, zlib.error, EOFError) as exc:
            raise TransportError(cause=exc) from exc
        if not data and amt != 0:
            self.close()
        return data


class _Body(io.RawIOBase):
    """A response body: wire bytes counted, content-encodings undone a bounded piece at a
    time, decoded bytes counted; both capped at ``limit``."""

    def __init__(
        self,
        raw: http.client.HTTPResponse,
        encodings: list[str],
        limit: int,
        guard: Guard,
        url: str,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._guard = guard
        self._url = url
        self._wire = 0
        self._decoded = 0
        # Encodings are listed in the order they were applied: undo the last one first.
        source: Callable[[int], bytes] = self._read_wire
        for encoding in reversed(encodings):
            source = _Inflater(source, gzip=encoding != "deflate").read
        self._source = source

    def readable(self) -> bool:
        return True

    def _read_wire(self, n: int) -> bytes:
        self._guard.check_time()
        data = self._raw.read(n)
        self._wire += len(data)
        if self._wire > self._limit:
            self._guard.body_too_large(self._url, self._limit)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while piece := self.read(_CHUNK):
                parts.append(piece)
            return b"".join(parts)
        data = self._source(min(size, _CHUNK)) if size else b""
        self._decoded += len(data)
        if self._decoded > self._limit:
            self._guard.body_too_large(self._url, self._limit)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _Inflater:
    """Undo one gzip or deflate layer, pulling input from ``source`` only as output is asked
    for: never more than ``n`` bytes of output per call, whatever the compression ratio."""

    def __init__(self, source: Callable[[int], bytes], *, gzip: bool) -> None:
        self._source = source
        self._gzip = gzip
        self._d: Any = None
        self._input_done = False

    def read(self, n: int) -> bytes:
        while True:
            if self._d is not None and self._d.eof:
                return b""  # one gzip member, as yt-dlp reads them; trailing junk ignored
            if self._d is not None and self._d.unconsumed_tail:
                data = self._d.unconsumed_tail
            elif self._input_done:
                return self._d.flush() if self._d is not None else b""
            else:
                data = self._source(_CHUNK)
                if not data:
                    self._input_done = True
                    continue
            if self._d is None:
                self._d = zlib.decompressobj(self._wbits(data))
            out = self._d.decompress(data, n)
            if out:
                return out

    def _wbits(self, first: bytes) -> int:
        if self._gzip:
            return 16 + zlib.MAX_WBITS
        # "deflate" is meant to be zlib-wrapped; some servers send a raw deflate stream.
        zlib_header = (
            len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        )
        return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
