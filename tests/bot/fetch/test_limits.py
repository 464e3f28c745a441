"""bot.fetch's limits: not found, not audio, too large (declared or counted), too slow, too
long; each refused with a short message for the user and nothing left behind.

Nothing here talks to anything but 127.0.0.1 (conftest.only_loopback).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bot.fetch import FetchLimits
from bot.fetch.addresses import AddressPolicy
from bot.fetch.session import FetchSession
from inference.errors import (
    DownloadTimeout,
    DownloadTooLarge,
    DownloadTooLong,
    FetchError,
    LinkNotFound,
    NotAudioLink,
    UnsupportedLink,
)
from tests.bot.fetch.helpers import assert_user_message, fetch, leftovers, needs_ffmpeg
from tests.httpserver import LocalHTTPServer

# Any connect() to an address other than 127.0.0.1 fails the test (conftest.only_loopback).
pytestmark = [pytest.mark.links, pytest.mark.usefixtures("only_loopback")]  # links: `make upgrade-ytdlp` runs them


# -- limits ---------------------------------------------------------------------------------------


def test_not_found(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(LinkNotFound) as info:
        fetch(server.url("_/status/404"), tmp_path)
    assert_user_message(info.value)
    with pytest.raises(LinkNotFound):
        fetch(server.url("_/status/410"), tmp_path)


def test_server_error_is_a_fetch_error(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="500") as info:
        fetch(server.url("_/status/500"), tmp_path)
    assert_user_message(info.value)


def test_page_without_media_is_unsupported(server: LocalHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLink, match="can't get audio") as info:
        fetch(server.url("_/page", title="Words only"), tmp_path)
    assert_user_message(info.value)


def test_png_is_not_audio(server: LocalHTTPServer, tmp_path: Path) -> None:
    server.clear_requests()
    with pytest.raises(NotAudioLink) as info:
        fetch(server.url("picture.png"), tmp_path)
    assert_user_message(info.value)
    assert leftovers(tmp_path) == []
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
        fetch(server.url(path), tmp_path)
    assert leftovers(tmp_path) == []


def test_too_large_with_content_length(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge, match=r"0\.1 MB") as info:
        fetch(server.url("vibe_ace.ogg"), tmp_path, limits)
    assert_user_message(info.value)
    assert leftovers(tmp_path) == []


def test_too_large_chunked_without_length(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge):
        fetch(server.url("_/chunked/vibe_ace.ogg", chunk="8192"), tmp_path, limits)
    assert leftovers(tmp_path) == []


def test_too_large_when_the_length_claims_too_much(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(DownloadTooLarge):
        fetch(server.url("_/length/solo_trumpet.ogg", claim="200000"), tmp_path, limits)
    assert leftovers(tmp_path) == []


def test_length_claiming_too_little_truncates_to_a_broken_file(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    # The HTTP client stops at the declared length, so the lie cannot exceed the size limit;
    # what arrives is a truncated file, refused as unreadable.
    with pytest.raises(NotAudioLink):
        fetch(server.url("_/length/vibe_ace.ogg", claim="1000"), tmp_path)
    assert leftovers(tmp_path) == []


def test_default_limits_and_their_messages() -> None:
    limits = FetchLimits()
    assert (
        limits.max_bytes,
        limits.max_duration_s,
        limits.timeout_s,
        limits.max_playlist_items,
        limits.allow_private,
    ) == (50 * 2**20, 1200, 60, 25, False)
    session = FetchSession(AddressPolicy(), limits)
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
        fetch(server.url("_/length/solo_trumpet.ogg"), tmp_path)
    assert_user_message(info.value)
    assert leftovers(tmp_path) == []


def test_slow_download_times_out_quickly(
    server: LocalHTTPServer, tmp_path: Path, warm: None
) -> None:
    limits = FetchLimits(allow_private=True, timeout_s=2)
    start = time.monotonic()
    with pytest.raises(DownloadTimeout, match="2 s") as info:
        fetch(server.url("_/slow/vibe_ace.ogg", delay="0.1", chunk="256"), tmp_path, limits)
    assert time.monotonic() - start < 15  # without the wall clock: minutes (a loaded CI box is slow)
    assert_user_message(info.value)
    assert leftovers(tmp_path) == []


def test_trickle_of_single_bytes_times_out(
    server: LocalHTTPServer, tmp_path: Path, warm: None
) -> None:
    # One byte every 0.2 s never trips a per-read socket timeout: only the wall clock stops it.
    limits = FetchLimits(allow_private=True, timeout_s=1.5)
    start = time.monotonic()
    with pytest.raises(DownloadTimeout):
        fetch(server.url("_/slow/solo_trumpet.ogg", delay="0.2", chunk="1"), tmp_path, limits)
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
        fetch(server.url("hang"), tmp_path, limits)
    assert time.monotonic() - start < 15  # without the wall clock: 30 s or more


@needs_ffmpeg
def test_too_long_is_refused_after_probing(server: LocalHTTPServer, tmp_path: Path) -> None:
    # A plain file declares no duration: it is downloaded, probed with ffprobe, and refused.
    limits = FetchLimits(allow_private=True, max_duration_s=10)
    with pytest.raises(DownloadTooLong, match="10 s") as info:
        fetch(server.url("long.wav"), tmp_path, limits)
    assert_user_message(info.value)
    assert leftovers(tmp_path) == []


@needs_ffmpeg
def test_declared_duration_is_refused_before_download(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    # An XSPF playlist declares each track's duration: refused without fetching the audio.
    server.clear_requests()
    limits = FetchLimits(allow_private=True, max_duration_s=10)
    with pytest.raises(DownloadTooLong):
        fetch(server.url("long.xspf"), tmp_path, limits)
    assert [r.path for r in server.requests] == ["/long.xspf"]


@needs_ffmpeg
def test_long_audio_within_the_limit_is_fine(server: LocalHTTPServer, tmp_path: Path) -> None:
    limits = FetchLimits(allow_private=True, max_duration_s=60)
    [audio] = fetch(server.url("long.wav"), tmp_path, limits)
    assert audio.duration_s == pytest.approx(30, abs=0.1)


def test_match_filter_refuses_declared_limits() -> None:
    session = FetchSession(AddressPolicy(), FetchLimits(max_duration_s=600))
    assert session.match_filter({"duration": 300}) is None
    assert session.match_filter({"duration": 3600}) is not None
    assert session.match_filter({"live_status": "is_live"}) is not None
    assert [type(e) for e in session.rejections] == [DownloadTooLong, UnsupportedLink]
