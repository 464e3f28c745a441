"""bot.fetch's address guard: which links are refused before anything is sent, and which
connections are refused at connect time (redirects, pages that embed a blocked address, DNS
rebinding, other schemes, anything that would bypass the guarded request handler).

Nothing here talks to anything but 127.0.0.1: any other connect() fails the test, and names
other than the local ones are answered by a fake resolver (conftest).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yt_dlp

from bot.fetch import FetchLimits, check_url, is_public_address
from bot.fetch.addresses import AddressPolicy
from bot.fetch.http_handler import GuardedResponse
from bot.fetch.session import FetchSession
from bot.fetch.ytdlp import GuardedYoutubeDL, YtdlpLogger
from inference.errors import BlockedAddress, FetchError, LinkNotFound, UnsupportedLink
from tests.bot.fetch.helpers import LOCAL, assert_user_message, fetch, fetch_local_only, leftovers
from tests.httpserver import LocalHTTPServer

# Any connect() to an address other than 127.0.0.1 fails the test (conftest.only_loopback).
pytestmark = [pytest.mark.links, pytest.mark.usefixtures("only_loopback")]  # links: `make upgrade-ytdlp` runs them


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
    assert_user_message(info.value)


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
        fetch(url, tmp_path)


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
        fetch("https://nowhere.invalid/song.mp3", tmp_path, FetchLimits())
    assert_user_message(info.value)


def test_fetch_refuses_loopback_without_allow_private(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    server.clear_requests()
    with pytest.raises(BlockedAddress):
        fetch(server.url("vibe_ace.ogg"), tmp_path, FetchLimits())
    assert server.requests == []


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
        fetch_local_only(url, tmp_path)
    assert all(address[0] == "127.0.0.1" for address in only_loopback)
    assert leftovers(tmp_path) == []


def test_redirect_hop_is_checked_at_connect_time(server: LocalHTTPServer, tmp_path: Path) -> None:
    # The same first hop to an allowed file works under that policy: only the target differs.
    [audio] = fetch_local_only(server.url("_/redirect", to="/solo_trumpet.ogg"), tmp_path)
    assert audio.path.exists()


def test_page_embedding_a_blocked_address_is_refused(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    url = server.url("_/page", audio=f"http://127.0.0.2:{server.port}/solo_trumpet.ogg")
    with pytest.raises(BlockedAddress):
        fetch_local_only(url, tmp_path)


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
        fetch(f"http://rebind.test:{server.port}/vibe_ace.ogg", tmp_path, FetchLimits())
    assert server.requests == [] and only_loopback == []


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x.ogg", "file:///etc/passwd"])
def test_redirect_to_another_scheme_is_refused(
    server: LocalHTTPServer, tmp_path: Path, target: str
) -> None:
    with pytest.raises(UnsupportedLink):
        fetch(server.url("_/redirect", to=target), tmp_path)


def test_a_response_that_bypassed_the_guard_is_refused(
    server: LocalHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a yt-dlp release that no longer builds its handlers through the public
    # build_request_director: its stock handlers would answer, unguarded. Refused.
    monkeypatch.setattr(
        GuardedYoutubeDL, "build_request_director", yt_dlp.YoutubeDL.build_request_director
    )
    with pytest.raises(FetchError) as info:
        fetch(server.url("solo_trumpet.ogg"), tmp_path)
    assert type(info.value) is FetchError
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "data:audio/ogg;base64,T2dnUw==", "ftp://127.0.0.1/x.ogg"]
)
def test_only_the_guarded_handler_talks_to_the_network(server: LocalHTTPServer, url: str) -> None:
    session = FetchSession(AddressPolicy(allow_private=True), LOCAL)
    with GuardedYoutubeDL({"quiet": True, "logger": YtdlpLogger()}, session) as ydl:
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
    assert is_public_address(ipaddress.ip_address(ip)) is public
