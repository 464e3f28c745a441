"""The address guard: which links a fetch may follow and which addresses it may connect to.

http(s) only; the host is resolved and *every* address it resolves to must be public (not
private, loopback, link-local, multicast, reserved, unspecified, shared/CGNAT, nor an
IPv4-mapped / 6to4 / NAT64 form of one), unless the policy allows private addresses. The same
rule is applied twice: to the link before the fetch starts (:func:`check_url`), and at connect
time to every connection yt-dlp opens (``bot.fetch.session.FetchSession.connect``, which
connects to the very address it checked).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any

from inference.errors import BlockedAddress, LinkNotFound, UnsupportedLink

__all__ = [
    "BLOCKED_MESSAGE",
    "MAX_URL_LENGTH",
    "AddressPolicy",
    "IPAddress",
    "check_url",
    "check_url_with_policy",
    "ip_of",
    "is_http_url",
    "is_public_address",
    "resolve_for_connect",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048


def check_url(url: str, allow_private: bool) -> None:
    """Refuse links we must not fetch: non-http(s), unresolvable, or private addresses.

    Raises UnsupportedLink, LinkNotFound or BlockedAddress; returns None when the link is fine.
    Every address the host resolves to is checked (``http://2130706433/``, ``http://0x7f.1/``
    and other numeric spellings resolve to 127.0.0.1 and are refused like it).
    """
    check_url_with_policy(url, AddressPolicy(allow_private=allow_private))


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
class AddressPolicy:
    allow_private: bool = False
    # Exact addresses allowed on top of public ones (tests: the local server, and only it).
    also_allowed: frozenset[IPAddress] = frozenset()

    def refuses(self, ip: IPAddress) -> bool:
        return not (self.allow_private or ip in self.also_allowed or is_public_address(ip))


def ip_of(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


BLOCKED_MESSAGE = "That link points to a private or local network address, so I won't fetch it."


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


def check_url_with_policy(url: str, policy: AddressPolicy) -> None:
    _, host, port = _split_url(url)
    for *_, sockaddr in _resolve(host, port):
        ip = ip_of(sockaddr)
        if policy.refuses(ip):
            log.info("refusing %r: %s resolves to %s", url, host, ip)
            raise BlockedAddress(BLOCKED_MESSAGE)


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host and a valid port (a redirect's Location may be anything)."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def resolve_for_connect(host: str, port: int) -> list[tuple[Any, ...]]:
    # Inside urllib: errors must be OSError (gaierror is one) to be reported as network errors.
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
