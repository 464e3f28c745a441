"""bot.fetch: links that download (direct files, redirects, <audio> pages, playlists), with real
yt-dlp against a local HTTP server (tests/httpserver.py).

Nothing here talks to anything but 127.0.0.1 (conftest.only_loopback).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.fetch import FetchLimits, fetch_audio
from inference.errors import DownloadTooLarge, LinkNotFound
from tests.bot.fetch.helpers import LOCAL, fetch, leftovers, needs_ffmpeg
from tests.httpserver import LocalHTTPServer

# Any connect() to an address other than 127.0.0.1 fails the test (conftest.only_loopback).
pytestmark = [pytest.mark.links, pytest.mark.usefixtures("only_loopback")]  # links: `make upgrade-ytdlp` runs them


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

    [audio] = fetch(url, tmp_path, progress=events.append)

    assert audio.path.parent == tmp_path / "out"
    assert audio.path.read_bytes() == (server.root / name).read_bytes()
    assert audio.path.suffix == Path(name).suffix
    assert audio.title == Path(name).stem
    assert audio.url == url
    assert audio.extractor == "generic"
    assert audio.uploader is None
    # Read from the file: a plain link declares no duration.
    assert audio.duration_s == pytest.approx(61.46 if name == "vibe_ace.ogg" else 4.0, abs=0.2)
    assert leftovers(tmp_path) == [audio.path.name]  # no .part files
    assert {address[:2] for address in only_loopback} == {("127.0.0.1", server.port)}

    stages = [e["stage"] for e in events]
    assert stages[0] == "resolving" and stages[-1] == "done" and "downloading" in stages
    fractions = [e["fraction"] for e in events if e["fraction"] is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)


def test_chunked_response_without_length_downloads(server: LocalHTTPServer, tmp_path: Path) -> None:
    [audio] = fetch(server.url("_/chunked/solo_trumpet.ogg", chunk="4096"), tmp_path)
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()


def test_redirect_between_allowed_addresses_is_followed(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    [audio] = fetch(server.url("_/redirect", to="/solo_trumpet.ogg"), tmp_path)
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
    assert audio.url == server.url("solo_trumpet.ogg")


def test_html5_audio_page_yields_its_audio(server: LocalHTTPServer, tmp_path: Path) -> None:
    # yt-dlp's generic extractor does find <audio src> in a plain HTML page.
    [audio] = fetch(
        server.url("_/page", audio="solo_trumpet.ogg", title="Trumpet practice"), tmp_path
    )
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
    assert audio.title == "Trumpet practice"
    assert audio.extractor == "html5"


def test_yt_dlp_prints_nothing(
    server: LocalHTTPServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The generic extractor warns ("Falling back on generic ..."): it must go to logging only.
    fetch(server.url("_/page", audio="solo_trumpet.ogg"), tmp_path)
    with pytest.raises(LinkNotFound):
        fetch(server.url("_/status/404"), tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_environment_proxies_are_ignored(
    server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")  # only_loopback fails any use of it
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    [audio] = fetch(server.url("solo_trumpet.ogg"), tmp_path)
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

    [audio] = fetch(server.url("solo_trumpet.ogg"), tmp_path, progress=explode)
    assert audio.path.exists()


# -- playlists ------------------------------------------------------------------------------------

THREE = ["solo_trumpet.ogg", "not_music_robin.ogg", "vibe_ace.ogg"]


def test_playlist_returns_up_to_max_items(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, timeout_s=15, max_playlist_items=2)
    items = fetch(server.url("_/page", audio=THREE, title="Mix"), tmp_path, limits, playlist=True)
    assert [a.path.read_bytes() for a in items] == [
        (server.root / name).read_bytes() for name in THREE[:2]
    ]
    assert len({a.path for a in items}) == 2
    assert [a.title for a in items] == ["Mix (1)", "Mix (2)"]
    assert sorted(leftovers(tmp_path)) == sorted(a.path.name for a in items)


def test_without_playlist_only_the_first_item(server: LocalHTTPServer, tmp_path: Path) -> None:
    server.clear_requests()
    items = fetch(server.url("_/page", audio=THREE, title="Mix"), tmp_path)
    assert len(items) == 1
    assert items[0].path.read_bytes() == (server.root / THREE[0]).read_bytes()
    assert not any(r.path.startswith(f"/{THREE[1]}") for r in server.requests)


def test_playlist_skips_a_broken_item(server: LocalHTTPServer, tmp_path: Path) -> None:
    items = fetch(
        server.url("_/page", audio=["missing.ogg", "solo_trumpet.ogg"]), tmp_path, playlist=True
    )
    assert [a.path.read_bytes() for a in items] == [(server.root / "solo_trumpet.ogg").read_bytes()]


def test_playlist_skips_an_item_over_a_limit(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    items = fetch(
        server.url("_/page", audio=["vibe_ace.ogg", "solo_trumpet.ogg"]),
        tmp_path,
        limits,
        playlist=True,
    )
    assert [a.path.read_bytes() for a in items] == [(server.root / "solo_trumpet.ogg").read_bytes()]
    assert leftovers(tmp_path) == [items[0].path.name]


def test_playlist_of_only_broken_items_reports_the_first_error(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    with pytest.raises(LinkNotFound):
        fetch(server.url("_/page", audio=["missing.ogg", "gone.ogg"]), tmp_path, playlist=True)
