"""inference.fetch: real yt-dlp against a local HTTP server (tests/httpserver.py).

Nothing here talks to anything but 127.0.0.1: an autouse fixture makes every other connect()
fail the test, and names other than the local ones are answered by a fake resolver.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import struct
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yt_dlp

from inference import fetch
from inference.errors import (
    BlockedAddress,
    DownloadTimeout,
    DownloadTooLarge,
    DownloadTooLong,
    FetchError,
    LinkNotFound,
    NotAudioLink,
    UnsupportedLink,
)
from inference.fetch import FetchedAudio, FetchLimits, check_url, fetch_audio
from inference.fetch_http import GuardedResponse
from inference.formats import sniff_format
from tests.httpserver import LocalHTTPServer, http_server_fixture

pytestmark = pytest.mark.links  # the link tests: `make upgrade-ytdlp` runs them after an upgrade
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

LOCAL = FetchLimits(allow_private=True, timeout_s=15)
LOOPBACK = ipaddress.ip_address("127.0.0.1")

http_server = http_server_fixture(scope="module")


# -- fixtures -------------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    assert FFMPEG is not None
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=60
    )


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
        _ffmpeg(*clip, "-c:a", "libmp3lame", str(root / "clip.mp3"))
        _ffmpeg(*clip, "-c:a", "aac", str(root / "clip.m4a"))
        tone = "sine=frequency=440:duration=30"
        _ffmpeg("-f", "lavfi", "-i", tone, "-ar", "8000", "-ac", "1", str(root / "long.wav"))
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
    fetch.warm_up()
    fetch_audio(server.url("solo_trumpet.ogg"), tmp_path_factory.mktemp("warm"), LOCAL)


@pytest.fixture(autouse=True)
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


def _fetch(
    url: str, tmp_path: Path, limits: FetchLimits = LOCAL, **kwargs: Any
) -> list[FetchedAudio]:
    return fetch_audio(url, tmp_path / "out", limits, **kwargs)


def _leftovers(tmp_path: Path) -> list[str]:
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def _assert_user_message(error: BaseException) -> None:
    text = str(error)
    assert text and len(text) < 120, text
    assert "Traceback" not in text and "ERROR" not in text and "yt-dlp" not in text, text
    assert "127.0.0.1" not in text, text  # no URLs echoed back


# -- downloads that work --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "vibe_ace.ogg",
        pytest.param("clip.mp3", marks=needs_ffmpeg),
        pytest.param("clip.m4a", marks=needs_ffmpeg),
    ],
)
def test_direct_link_downloads_the_exact_bytes(
    server: LocalHTTPServer, tmp_path: Path, only_loopback: list[Any], name: str
) -> None:
    events: list[dict[str, Any]] = []
    url = server.url(name)

    [audio] = _fetch(url, tmp_path, progress=events.append)

    assert audio.path.parent == tmp_path / "out"
    assert audio.path.read_bytes() == (server.root / name).read_bytes()
    assert audio.path.suffix == Path(name).suffix
    assert audio.title == Path(name).stem
    assert audio.url == url
    assert audio.extractor == "generic"
    assert audio.uploader is None
    # Read from the file: a plain link declares no duration.
    assert audio.duration_s == pytest.approx(61.46 if name == "vibe_ace.ogg" else 4.0, abs=0.2)
    assert _leftovers(tmp_path) == [audio.path.name]  # no .part files
    assert {address[:2] for address in only_loopback} == {("127.0.0.1", server.port)}

    stages = [e["stage"] for e in events]
    assert stages[0] == "resolving" and stages[-1] == "done" and "downloading" in stages
    fractions = [e["fraction"] for e in events if e["fraction"] is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)


def test_chunked_response_without_length_downloads(server: LocalHTTPServer, tmp_path: Path) -> None:
    [audio] = _fetch(server.url("_/chunked/solo_trumpet.ogg", chunk="4096"), tmp_path)
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()


def test_redirect_between_allowed_addresses_is_followed(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    [audio] = _fetch(server.url("_/redirect", to="/solo_trumpet.ogg"), tmp_path)
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
    assert audio.url == server.url("solo_trumpet.ogg")


def test_html5_audio_page_yields_its_audio(server: LocalHTTPServer, tmp_path: Path) -> None:
    # yt-dlp's generic extractor does find <audio src> in a plain HTML page.
    [audio] = _fetch(
        server.url("_/page", audio="solo_trumpet.ogg", title="Trumpet practice"), tmp_path
    )
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
    assert audio.title == "Trumpet practice"
    assert audio.extractor == "html5"


def test_yt_dlp_prints_nothing(
    server: LocalHTTPServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The generic extractor warns ("Falling back on generic ..."): it must go to logging only.
    _fetch(server.url("_/page", audio="solo_trumpet.ogg"), tmp_path)
    with pytest.raises(LinkNotFound):
        _fetch(server.url("_/status/404"), tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_environment_proxies_are_ignored(
    server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")  # only_loopback fails any use of it
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    [audio] = _fetch(server.url("solo_trumpet.ogg"), tmp_path)
    assert audio.path.exists()


def test_concurrent_fetches_keep_their_own_limits(server: LocalHTTPServer, tmp_path: Path) -> None:
    small = FetchLimits(allow_private=True, max_bytes=100_000)
    with ThreadPoolExecutor(max_workers=2) as pool:
        big = pool.submit(fetch_audio, server.url("vibe_ace.ogg"), tmp_path / "a", small)
        ok = pool.submit(fetch_audio, server.url("vibe_ace.ogg"), tmp_path / "b", LOCAL)
        with pytest.raises(DownloadTooLarge):
            big.result(timeout=30)
        [audio] = ok.result(timeout=30)
    assert audio.path.read_bytes() == (server.root / "vibe_ace.ogg").read_bytes()


def test_failing_progress_callback_does_not_break_the_fetch(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError("bot bug")

    [audio] = _fetch(server.url("solo_trumpet.ogg"), tmp_path, progress=explode)
    assert audio.path.exists()


# -- playlists ------------------------------------------------------------------------------------

THREE = ["solo_trumpet.ogg", "not_music_robin.ogg", "vibe_ace.ogg"]


def test_playlist_returns_up_to_max_items(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, timeout_s=15, max_playlist_items=2)
    items = _fetch(server.url("_/page", audio=THREE, title="Mix"), tmp_path, limits, playlist=True)
    assert [a.path.read_bytes() for a in items] == [
        (server.root / name).read_bytes() for name in THREE[:2]
    ]
    assert len({a.path for a in items}) == 2
    assert [a.title for a in items] == ["Mix (1)", "Mix (2)"]
    assert sorted(_leftovers(tmp_path)) == sorted(a.path.name for a in items)


def test_without_playlist_only_the_first_item(server: LocalHTTPServer, tmp_path: Path) -> None:
    server.clear_requests()
    items = _fetch(server.url("_/page", audio=THREE, title="Mix"), tmp_path)
    assert len(items) == 1
    assert items[0].path.read_bytes() == (server.root / THREE[0]).read_bytes()
    assert not any(r.path.startswith(f"/{THREE[1]}") for r in server.requests)


def test_playlist_skips_a_broken_item(server: LocalHTTPServer, tmp_path: Path) -> None:
    items = _fetch(
        server.url("_/page", audio=["missing.ogg", "solo_trumpet.ogg"]), tmp_path, playlist=True
    )
    assert [a.path.read_bytes() for a in items] == [(server.root / "solo_trumpet.ogg").read_bytes()]


def test_playlist_skips_an_item_over_a_limit(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    items = _fetch(
        server.url("_/page", audio=["vibe_ace.ogg", "solo_trumpet.ogg"]),
        tmp_path,
        limits,
        playlist=True,
    )
    assert [a.path.read_bytes() for a in items] == [(server.root / "solo_trumpet.ogg").read_bytes()]
    assert _leftovers(tmp_path) == [items[0].path.name]


def test_playlist_of_only_broken_items_reports_the_first_error(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    with pytest.raises(LinkNotFound):
        _fetch(server.url("_/page", audio=["missing.ogg", "gone.ogg"]), tmp_path, playlist=True)


# -- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/song.mp3",
        "http://192.168.1.1/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a00:1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://localhost/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://100.64.0.1/",
        "http://224.0.0.251/",
        "http://240.0.0.1/",
        "https://127.1:8443/x.ogg",
    ],
)
def test_check_url_refuses_private_addresses(url: str) -> None:
    with pytest.raises(BlockedAddress) as info:
        check_url(url, allow_private=False)
    _assert_user_message(info.value)


def test_check_url_refuses_the_local_server(server: LocalHTTPServer) -> None:
    with pytest.raises(BlockedAddress):
        check_url(server.url("vibe_ace.ogg"), allow_private=False)
    check_url(server.url("vibe_ace.ogg"), allow_private=True)


@pytest.mark.parametrize("url", ["http://93.184.216.34/a.mp3", "https://[2606:4700::1111]/"])
def test_check_url_accepts_public_literals(url: str) -> None:
    check_url(url, allow_private=False)  # resolving a literal sends nothing anywhere


def test_check_url_refuses_a_name_with_any_private_address(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.test"] = ["93.184.216.34"]
    check_url("http://mixed.test/", allow_private=False)
    fake_dns["internal.test"] = ["10.1.2.3"]
    with pytest.raises(BlockedAddress):
        check_url("http://internal.test/", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/song.mp3",
        "file:///etc/passwd",
        "data:audio/ogg;base64,T2dnUw==",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/",
        "example.com/song.mp3",
    ],
)
def test_non_http_links_are_unsupported(url: str, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLink, match=r"http\(s\)"):
        check_url(url, allow_private=True)
    with pytest.raises(UnsupportedLink):
        _fetch(url, tmp_path)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://",
        "http://exa mple.com/",
        "http://[::1/",
        "http://host:99999/",
        "https://x/" + "a" * 3000,
    ],
)
def test_malformed_links_are_unsupported(url: str) -> None:
    with pytest.raises(UnsupportedLink):
        check_url(url, allow_private=True)


def test_unresolvable_host_is_not_found(fake_dns: dict[str, list[str]], tmp_path: Path) -> None:
    with pytest.raises(LinkNotFound) as info:
        _fetch("https://nowhere.invalid/song.mp3", tmp_path, FetchLimits())
    _assert_user_message(info.value)


def test_fetch_refuses_loopback_without_allow_private(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    server.clear_requests()
    with pytest.raises(BlockedAddress):
        _fetch(server.url("vibe_ace.ogg"), tmp_path, FetchLimits())
    assert server.requests == []


def _only_local_server_allowed() -> fetch._AddressPolicy:
    # allow_private=False, except the local test server itself: anything else private is refused.
    return fetch._AddressPolicy(allow_private=False, also_allowed=frozenset({LOOPBACK}))


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/vibe_ace.ogg",  # another loopback address (nothing listens there)
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/vibe_ace.ogg",
    ],
)
def test_redirect_to_a_blocked_address_is_refused(
    server: LocalHTTPServer, tmp_path: Path, only_loopback: list[Any], target: str
) -> None:
    url = server.url("_/redirect", to=target.format(port=server.port))
    with pytest.raises(BlockedAddress):
        fetch._fetch_audio(
            url,
            tmp_path / "out",
            FetchLimits(),
            playlist=False,
            progress=None,
            policy=_only_local_server_allowed(),
        )
    assert all(address[0] == "127.0.0.1" for address in only_loopback)
    assert _leftovers(tmp_path) == []


def test_redirect_hop_is_checked_at_connect_time(server: LocalHTTPServer, tmp_path: Path) -> None:
    # The same first hop to an allowed file works under that policy: only the target differs.
    [audio] = fetch._fetch_audio(
        server.url("_/redirect", to="/solo_trumpet.ogg"),
        tmp_path / "out",
        FetchLimits(),
        playlist=False,
        progress=None,
        policy=_only_local_server_allowed(),
    )
    assert audio.path.exists()


def test_page_embedding_a_blocked_address_is_refused(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    url = server.url("_/page", audio=f"http://127.0.0.2:{server.port}/solo_trumpet.ogg")
    with pytest.raises(BlockedAddress):
        fetch._fetch_audio(
            url,
            tmp_path / "out",
            FetchLimits(),
            playlist=False,
            progress=None,
            policy=_only_local_server_allowed(),
        )


def test_dns_rebinding_is_caught_at_connect_time(
    server: LocalHTTPServer,
    tmp_path: Path,
    fake_dns: dict[str, list[str]],
    only_loopback: list[Any],
) -> None:
    # First answer public (check_url passes), every later one loopback (what yt-dlp would get).
    fake_dns["rebind.test"] = ["93.184.216.34", "127.0.0.1"]
    server.clear_requests()
    with pytest.raises(BlockedAddress):
        _fetch(f"http://rebind.test:{server.port}/vibe_ace.ogg", tmp_path, FetchLimits())
    assert server.requests == [] and only_loopback == []


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x.ogg", "file:///etc/passwd"])
def test_redirect_to_another_scheme_is_refused(
    server: LocalHTTPServer, tmp_path: Path, target: str
) -> None:
    with pytest.raises(UnsupportedLink):
        _fetch(server.url("_/redirect", to=target), tmp_path)


def test_a_response_that_bypassed_the_guard_is_refused(
    server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a yt-dlp release that no longer builds its handlers through the public
    # build_request_director: its stock handlers would answer, unguarded. Refused.
    monkeypatch.setattr(
        fetch._GuardedYoutubeDL, "build_request_director", yt_dlp.YoutubeDL.build_request_director
    )
    with pytest.raises(FetchError) as info:
        _fetch(server.url("solo_trumpet.ogg"), tmp_path)
    assert type(info.value) is FetchError
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "data:audio/ogg;base64,T2dnUw==", "ftp://127.0.0.1/x.ogg"]
)
def test_only_the_guarded_handler_talks_to_the_network(server: LocalHTTPServer, url: str) -> None:
    session = fetch._Session(fetch._AddressPolicy(allow_private=True), LOCAL)
    with fetch._GuardedYoutubeDL({"quiet": True, "logger": fetch._YtdlpLogger()}, session) as ydl:
        with ydl.urlopen(server.url("solo_trumpet.ogg")) as response:
            assert isinstance(response, GuardedResponse)
            assert response.read() == (server.root / "solo_trumpet.ogg").read_bytes()
        with pytest.raises(yt_dlp.networking.exceptions.RequestError):
            ydl.urlopen(url)


@pytest.mark.parametrize(
    "ip, public",
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::7f00:1", False),
        ("2001::1", False),
        ("fec0::1", False),
    ],
)
def test_is_public_address(ip: str, public: bool) -> None:
    assert fetch.is_public_address(ipaddress.ip_address(ip)) is public


# -- limits ---------------------------------------------------------------------------------------


def test_not_found(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(LinkNotFound) as info:
        _fetch(server.url("_/status/404"), tmp_path)
    _assert_user_message(info.value)
    with pytest.raises(LinkNotFound):
        _fetch(server.url("_/status/410"), tmp_path)


def test_server_error_is_a_fetch_error(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="500") as info:
        _fetch(server.url("_/status/500"), tmp_path)
    _assert_user_message(info.value)


def test_page_without_media_is_unsupported(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLink, match="can't get audio") as info:
        _fetch(server.url("_/page", title="Words only"), tmp_path)
    _assert_user_message(info.value)


def test_png_is_not_audio(server: LocalHTTPServer, tmp_path: Path) -> None:
    server.clear_requests()
    with pytest.raises(NotAudioLink) as info:
        _fetch(server.url("picture.png"), tmp_path)
    _assert_user_message(info.value)
    assert _leftovers(tmp_path) == []
    # Refused from its Content-Type: only the extractor's first request, no download.
    assert [r.path for r in server.requests] == ["/picture.png"]


@pytest.mark.parametrize(
    "path",
    [
        "_/as/application%2Foctet-stream/picture.png",  # an image with a neutral type: sniffed
        "_/as/audio%2Fmpeg/page.html",  # HTML that claims to be audio: sniffed
    ],
)
def test_disguised_files_are_not_audio(server: LocalHTTPServer, tmp_path: Path, path: str) -> None:
    with pytest.raises(NotAudioLink):
        _fetch(server.url(path), tmp_path)
    assert _leftovers(tmp_path) == []


def test_too_large_with_content_length(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge, match=r"0\.1 MB") as info:
        _fetch(server.url("vibe_ace.ogg"), tmp_path, limits)
    _assert_user_message(info.value)
    assert _leftovers(tmp_path) == []


def test_too_large_chunked_without_length(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge):
        _fetch(server.url("_/chunked/vibe_ace.ogg", chunk="8192"), tmp_path, limits)
    assert _leftovers(tmp_path) == []


def test_too_large_when_the_length_claims_too_much(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge):
        _fetch(server.url("_/length/solo_trumpet.ogg", claim="200000"), tmp_path, limits)
    assert _leftovers(tmp_path) == []


def test_length_claiming_too_little_truncates_to_a_broken_file(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    # The HTTP client stops at the declared length, so the lie cannot exceed the size limit;
    # what arrives is a truncated file, refused as unreadable.
    with pytest.raises(NotAudioLink):
        _fetch(server.url("_/length/vibe_ace.ogg", claim="1000"), tmp_path)
    assert _leftovers(tmp_path) == []


def test_default_limits_and_their_messages() -> None:
    limits = FetchLimits()
    assert (
        limits.max_bytes,
        limits.max_duration_s,
        limits.timeout_s,
        limits.max_playlist_items,
        limits.allow_private,
    ) == (50 * 2**20, 1200, 60, 25, False)
    session = fetch._Session(fetch._AddressPolicy(), limits)
    assert "50 MB" in str(session.too_large_error())
    assert "20 min" in str(session.too_long_error())
    assert "1 min" in str(session.timeout_error())


@pytest.mark.parametrize(
    "field", ["max_bytes", "max_duration_s", "timeout_s", "max_playlist_items"]
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FetchLimits(**{field: 0})


def test_truncated_download_is_a_fetch_error(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as info:  # the header promises twice the bytes it sends
        _fetch(server.url("_/length/solo_trumpet.ogg"), tmp_path)
    _assert_user_message(info.value)
    assert _leftovers(tmp_path) == []


def test_slow_download_times_out_quickly(
    server: LocalHTTPServer, tmp_path: Path, warm: None
) -> None:
    limits = FetchLimits(allow_private=True, timeout_s=2)
    start = time.monotonic()
    with pytest.raises(DownloadTimeout, match="2 s") as info:
        _fetch(server.url("_/slow/vibe_ace.ogg", delay="0.1", chunk="256"), tmp_path, limits)
    assert time.monotonic() - start < 15  # without the wall clock: minutes (a loaded CI box is slow)
    _assert_user_message(info.value)
    assert _leftovers(tmp_path) == []


def test_trickle_of_single_bytes_times_out(
    server: LocalHTTPServer, tmp_path: Path, warm: None
) -> None:
    # One byte every 0.2 s never trips a per-read socket timeout: only the wall clock stops it.
    limits = FetchLimits(allow_private=True, timeout_s=1.5)
    start = time.monotonic()
    with pytest.raises(DownloadTimeout):
        _fetch(server.url("_/slow/solo_trumpet.ogg", delay="0.2", chunk="1"), tmp_path, limits)
    assert time.monotonic() - start < 15  # without the wall clock: 30 s or more


def test_server_that_never_answers_times_out(
    server: LocalHTTPServer, tmp_path: Path, warm: None
) -> None:
    def hang(handler: Any) -> None:
        server._stopping.wait(30)  # accept the request, never answer it

    server.route("/hang", hang)
    limits = FetchLimits(allow_private=True, timeout_s=1.5)
    start = time.monotonic()
    with pytest.raises(DownloadTimeout):
        _fetch(server.url("hang"), tmp_path, limits)
    assert time.monotonic() - start < 15  # without the wall clock: 30 s or more


@needs_ffmpeg
def test_too_long_is_refused_after_probing(server: LocalHTTPServer, tmp_path: Path) -> None:
    # A plain file declares no duration: it is downloaded, probed with ffprobe, and refused.
    limits = FetchLimits(allow_private=True, max_duration_s=10)
    with pytest.raises(DownloadTooLong, match="10 s") as info:
        _fetch(server.url("long.wav"), tmp_path, limits)
    _assert_user_message(info.value)
    assert _leftovers(tmp_path) == []


@needs_ffmpeg
def test_declared_duration_is_refused_before_download(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    # An XSPF playlist declares each track's duration: refused without fetching the audio.
    server.clear_requests()
    limits = FetchLimits(allow_private=True, max_duration_s=10)
    with pytest.raises(DownloadTooLong):
        _fetch(server.url("long.xspf"), tmp_path, limits)
    assert [r.path for r in server.requests] == ["/long.xspf"]


@needs_ffmpeg
def test_long_audio_within_the_limit_is_fine(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_duration_s=60)
    [audio] = _fetch(server.url("long.wav"), tmp_path, limits)
    assert audio.duration_s == pytest.approx(30, abs=0.1)


def test_match_filter_refuses_declared_limits() -> None:
    session = fetch._Session(fetch._AddressPolicy(), FetchLimits(max_duration_s=600))
    assert session.match_filter({"duration": 300}) is None
    assert session.match_filter({"duration": 3600}) is not None
    assert session.match_filter({"live_status": "is_live"}) is not None
    assert [type(e) for e in session.rejections] == [DownloadTooLong, UnsupportedLink]


# -- sniffing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, ext",
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"ID3\x04\x00\x00\x00\x00\x01\x00", "mp3"),  # a tag longer than the head
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"FORM\x00\x00\x10\x00AIFF", "aiff"),
        (b".snd\x00\x00\x00\x18", "au"),
        (b"caff\x00\x01\x00\x00", "caf"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"), "asf"),
        (b"#!AMR\n\x3c", "amr"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"\x47\x40\x00\x10" + bytes(184) + b"\x47\x40", "mpegts"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n", None),  # a playlist behind a tag
        (b"\x89PNG\r\n\x1a\n\x00\x00", None),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"GIF89a\x01\x00", None),
        (b"%PDF-1.7\n", None),
        (b"<!DOCTYPE html><html>", None),
        (b"PK\x03\x04\x14\x00", None),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", None),
        (b"", None),
    ],
)
def test_sniff_container(head: bytes, ext: str | None) -> None:
    # The fetcher checks downloads with the analyser's own sniffer and prober.
    assert sniff_format(head) == ext


def test_sniff_real_fixture() -> None:
    assert sniff_format((FIXTURES / "vibe_ace.ogg").read_bytes()[:512]) == "ogg"
