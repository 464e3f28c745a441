"""Fixtures for the link-fetching tests: the local HTTP server (one per test module) filled with
the media they fetch, yt-dlp warmed up, a connect() guard that fails any non-local connection,
and a fake resolver for made-up names.
"""

from __future__ import annotations

import shutil
import socket
import struct
import zlib
from typing import Any

import pytest

from bot.fetch import fetch_audio, warm_up
from tests.audio_helpers import ffmpeg
from tests.bot.fetch.helpers import FFMPEG, FIXTURES, LOCAL
from tests.httpserver import LocalHTTPServer, http_server_fixture

http_server = http_server_fixture(scope="module")


def _png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def server(http_server: LocalHTTPServer) -> LocalHTTPServer:
    """The module's server, its root filled with the media the tests use."""
    root = http_server.root
    for name in ("vibe_ace.ogg", "solo_trumpet.ogg", "not_music_robin.ogg"):
        shutil.copy(FIXTURES / name, root / name)
    (root / "picture.png").write_bytes(_png())
    (root / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Just text.</p></body></html>"
    )
    if FFMPEG is not None:
        clip = ["-t", "4", "-i", str(FIXTURES / "vibe_ace.ogg"), "-vn", "-b:a", "64k"]
        ffmpeg(*clip, "-c:a", "libmp3lame", str(root / "clip.mp3"), timeout=60)
        ffmpeg(*clip, "-c:a", "aac", str(root / "clip.m4a"), timeout=60)
        tone = "sine=frequency=440:duration=30"
        tone_args = ["-f", "lavfi", "-i", tone, "-ar", "8000", "-ac", "1"]
        ffmpeg(*tone_args, str(root / "long.wav"), timeout=60)
        (root / "long.xspf").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<playlist version="1" xmlns="http://xspf.org/ns/0/"><trackList><track>'
            "<location>/long.wav</location><title>Long one</title><duration>30000</duration>"
            "</track></trackList></playlist>\n"
        )
    return http_server


@pytest.fixture(scope="module")
def warm(server: LocalHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    """yt-dlp compiles its ~1800 URL patterns once per process (seconds), which would otherwise
    land inside whichever timing test runs first."""
    warm_up()
    fetch_audio(server.url("solo_trumpet.ogg"), tmp_path_factory.mktemp("warm"), LOCAL)


@pytest.fixture
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any connect() to an address other than 127.0.0.1 (the check must stop it first)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        if isinstance(address, tuple) and address[0] != "127.0.0.1":
            raise AssertionError(f"test tried to connect to {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempts


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers for made-up names: ``fake_dns[name] = [ip, ip, ...]`` (one answer per lookup,
    the last one repeating). Unknown ``.test``/``.invalid`` names do not resolve."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in answers:
            queue = answers[name]
            ip = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (ip, int(port or 0)))]
        if name.endswith((".test", ".invalid")):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers
