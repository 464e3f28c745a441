"""A small local HTTP server for tests that need real HTTP (yt-dlp, aiohttp clients, the bot).

It listens on 127.0.0.1 on a free port, in a background thread, and serves the files of one
directory with a correct Content-Type and Content-Length, including Range requests. A few special
routes, all under ``/_/``, cover the awkward cases a downloader has to survive:

==============================================  ===================================================
``/_/status/<code>``                            an empty response with that status (404, 410, 500)
``/_/slow/<file>?delay=0.5&chunk=64``           the file, ``chunk`` bytes every ``delay`` seconds
``/_/chunked/<file>``                           the file with ``Transfer-Encoding: chunked`` (no
                                                Content-Length)
``/_/length/<file>?claim=N``                    the file, but the header claims ``N`` bytes
``/_/as/<content-type>/<file>``                 the file with that Content-Type (URL-encode ``/``
                                                as ``%2F``), e.g. ``/_/as/text%2Fhtml/a.png``
``/_/redirect?to=<url>&code=302``               a redirect (``to`` may be relative or absolute)
``/_/page?audio=a.ogg&audio=b.ogg&title=T``     an HTML page with one ``<audio src>`` per file
                                                (bare names mean files at the root);
                                                ``video=`` adds ``<video src>``; no media given:
                                                a plain page with no media at all
==============================================  ===================================================

Tests can also register their own routes (``server.route("/x", handler)``, or
``server.static("/x", body, headers)`` for fixed bytes with exactly the headers given) and inspect
``server.requests`` (method, path, headers) to check what a client actually asked for.

Use it as a context manager::

    with serve_directory(tmp_path) as base_url:
        urllib.request.urlopen(f"{base_url}/song.ogg")

    with LocalHTTPServer(tmp_path) as server:   # the richer object
        server.url("song.ogg"); server.requests

or as a pytest fixture made by :func:`http_server_fixture`::

    http_server = http_server_fixture(FIXTURES)            # in a test module or conftest.py

    def test_download(http_server):
        url = http_server.url("vibe_ace.ogg")
"""

from __future__ import annotations

import html
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CONTENT_TYPES",
    "LocalHTTPServer",
    "RecordedRequest",
    "http_server_fixture",
    "serve_directory",
]

# Deterministic (mimetypes depends on the machine's /etc/mime.types).
CONTENT_TYPES: dict[str, str] = {
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".webm": "audio/webm",
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: A custom route: called with the request handler; it writes the whole response itself.
RouteHandler = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean; see server.requests instead

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, *, head: bool) -> None:
        owner = self.server.owner
        split = urllib.parse.urlsplit(self.path)
        owner._record(RecordedRequest(self.command, self.path, dict(self.headers.items())))
        self.head_only = head
        self.query = urllib.parse.parse_qs(split.query)
        path = urllib.parse.unquote(split.path)
        try:
            custom = owner._routes.get(path)
            if custom is not None:
                custom(self)
            elif split.path.startswith("/_/"):
                self._special(split.path[3:])  # still quoted: %2F in a segment stays inside it
            else:
                self._serve_file(path.lstrip("/"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a downloader that gave up): fine

    def _param(self, name: str, default: str) -> str:
        return self.query.get(name, [default])[-1]

    def _send_simple(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/plain",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)
        self.close_connection = True

    def _resolve(self, name: str) -> Path | None:
        root = self.server.owner.root.resolve()
        target = (root / name).resolve()
        if root not in target.parents or not target.is_file():
            return None
        return target

    # -- routes -------------------------------------------------------------------------------
    def _serve_file(self, name: str, content_type: str | None = None) -> None:
        target = self._resolve(name)
        if target is None:
            self._send_simple(404, b"not found")
            return
        data = target.read_bytes()
        ctype = content_type or CONTENT_TYPES.get(target.suffix.lower(), DEFAULT_CONTENT_TYPE)
        start, end = 0, len(data) - 1
        status = 200
        range_header = self.headers.get("Range")
        if range_header:
            parsed = _parse_range(range_header, len(data))
            if parsed is None:
                self._send_simple(416, extra={"Content-Range": f"bytes */{len(data)}"})
                return
            start, end = parsed
            status = 206
        body = data[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", self.date_time_string(int(target.stat().st_mtime)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Connection", "close")
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)
        self.close_connection = True

    def _special(self, rest: str) -> None:
        kind, _, quoted_arg = rest.partition("/")
        arg = urllib.parse.unquote(quoted_arg)
        if kind == "status":
            code = int(arg or "404")
            self._send_simple(code, f"{code} {HTTPStatus(code).phrase}".encode())
        elif kind == "slow":
            self._slow(arg)
        elif kind == "chunked":
            self._chunked(arg)
        elif kind == "length":
            self._lying_length(arg)
        elif kind == "as":
            ctype, _, name = quoted_arg.partition("/")
            self._serve_file(urllib.parse.unquote(name), content_type=urllib.parse.unquote(ctype))
        elif kind == "redirect":
            code = int(self._param("code", "302"))
            self._send_simple(code, extra={"Location": self._param("to", "/")})
        elif kind == "page":
            self._page()
        else:
            self._send_simple(404, b"no such test route")

    def _file_or_404(self, name: str) -> tuple[bytes, str] | None:
        target = self._resolve(name)
        if target is None:
            self._send_simple(404, b"not found")
            return None
        ctype = CONTENT_TYPES.get(target.suffix.lower(), DEFAULT_CONTENT_TYPE)
        return target.read_bytes(), self._param("type", ctype)

    def _slow(self, name: str) -> None:
        found = self._file_or_404(name)
        if found is None:
            return
        data, ctype = found
        delay = float(self._param("delay", "0.5"))
        chunk = int(self._param("chunk", "64"))
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        stopping = self.server.owner._stopping
        for offset in range(0, len(data), chunk):
            if stopping.is_set():
                break
            self.wfile.write(data[offset : offset + chunk])
            self.wfile.flush()
            if stopping.wait(delay):
                break
        self.close_connection = True

    def _chunked(self, name: str) -> None:
        found = self._file_or_404(name)
        if found is None:
            return
        data, ctype = found
        chunk = int(self._param("chunk", "65536"))
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for offset in range(0, len(data), chunk):
            piece = data[offset : offset + chunk]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _lying_length(self, name: str) -> None:
        found = self._file_or_404(name)
        if found is None:
            return
        data, ctype = found
        claim = int(self._param("claim", str(len(data) * 2)))
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(claim))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)  # more or fewer bytes than promised; then hang up
        self.close_connection = True

    def _page(self) -> None:
        title = self._param("title", "A page")
        parts = [
            f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
            "</title></head><body>",
            f"<h1>{html.escape(title)}</h1>",
        ]
        for tag in ("audio", "video"):
            for src in self.query.get(tag, []):
                if "://" not in src and not src.startswith("/"):
                    src = "/" + src  # bare file names are files at the root, not under /_/
                parts.append(f'<{tag} controls src="{html.escape(src, quote=True)}"></{tag}>')
        if len(parts) == 2:
            parts.append("<p>Nothing to listen to here, just words.</p>")
        parts.append("</body></html>\n")
        self._send_simple(200, "\n".join(parts).encode(), "text/html; charset=utf-8")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end); None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LocalHTTPServer


class LocalHTTPServer:
    """Serves ``root`` on ``http://127.0.0.1:<free port>`` from a background thread."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._routes: dict[str, RouteHandler] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LocalHTTPServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"test-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # ends slow responses that are still trickling
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "", **query: str | list[str]) -> str:
        """An absolute URL for ``path`` (a file name or a ``_/...`` route) with a query string."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        return url

    # -- customisation and inspection ---------------------------------------------------------
    def route(self, path: str, handler: RouteHandler) -> None:
        """Serve ``path`` (exact, without query) with ``handler(request_handler)``."""
        self._routes[path] = handler

    def static(self, path: str, body: bytes, headers: dict[str, str]) -> str:
        """Serve ``body`` at ``path`` with exactly these headers (plus Content-Length unless
        given, and Connection: close); returns the URL. For responses a client must survive:
        odd encodings, lying types."""
        headers = {"Content-Length": str(len(body)), **headers, "Connection": "close"}

        def handler(request: BaseHTTPRequestHandler) -> None:
            request.send_response(200)
            for key, value in headers.items():
                request.send_header(key, value)
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(body)
            request.close_connection = True

        self.route(path, handler)
        return self.url(path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()


@contextmanager
def serve_directory(path: str | Path) -> Iterator[str]:
    """``with serve_directory(path) as base_url:`` -- ``base_url`` is ``http://127.0.0.1:PORT``."""
    with LocalHTTPServer(path) as server:
        yield server.base_url


def http_server_fixture(
    root: str | Path | None = None, *, scope: str = "function", name: str | None = None
) -> Any:
    """Make a pytest fixture that yields a started :class:`LocalHTTPServer`.

    ``root=None`` serves a fresh empty temporary directory (``server.root``) that the test fills.
    Assign the result to a module-level name (or pass ``name=``)::

        http_server = http_server_fixture(Path(__file__).parent / "fixtures")
    """

    @pytest.fixture(scope=scope, name=name)  # type: ignore[call-overload]
    def _fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHTTPServer]:
        directory = Path(root) if root is not None else tmp_path_factory.mktemp("http-root")
        with LocalHTTPServer(directory) as server:
            yield server

    return _fixture


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
