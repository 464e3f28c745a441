"""Discord markdown for text that users control: inert plain text and masked links.

Every title, name or link a user (or a web page) chose goes through this module before it is
put into a message or an embed, by both :mod:`bot.discord.embeds` and :mod:`bot.discord.playlist_embeds`.

Discord renders message and embed text with its fork of simple-markdown. Three of its rules
decide what a title could do:

- *escape*: a backslash before any character that is not a letter, a digit or whitespace shows
  that character as is (``\\*`` is a plain ``*``, ``\\<`` a plain ``<``);
- *masked link* ``[text](target)``: the end of ``text`` is found by a regular expression that
  ignores backslashes. ``text`` may hold ``[...]`` pairs and a ``]`` only where another ``]``
  follows before any ``[``; so a backslash-escaped ``]`` still counts as a bracket, and
  escaping cannot keep an odd bracket inside a link. ``target`` ends at the first whitespace
  or the first ``)`` that does not close a ``(`` inside it, and may be wrapped in ``<...>``;
- *emphasis* (``*a*``, ``__a__``, ``~~a~~``, ``||a||``, `` `a` ``) can span lines, so a lone ``*``
  in one title can pair with a lone ``*`` in the next line.

Hence :func:`safe_text` escapes every markdown character, paired or not, plus ``<`` (mentions,
channels, timestamps and autolinks start with it), ``[``/``]`` and the colon of ``https://`` (a
bare URL becomes a link, even inside link text); :func:`masked_link` keeps a
title's bracket pairs (``[Official Video]``), turns odd brackets into parentheses and
percent-encodes the target (spaces, parentheses, angle brackets, quotes, backslashes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

import discord

from bot.present.format import clean_title

__all__ = ["LINK_URL_MAX", "URL_MAX", "clip", "link_target", "masked_link", "safe_text"]

#: Discord's limit for a URL in an embed (title link, image).
URL_MAX = 2048
#: Longest target of a masked link: lists hold several, so a longer source is shown unlinked.
LINK_URL_MAX = 400

# Backslash first so the escapes added for the others are not escaped again (one pass anyway).
_MARKDOWN_CHARS = re.compile(r"([\\*_~|`<>\[\]])")
# "scheme://": Discord turns a bare http(s) URL into a link, even inside link text.
_URL_SCHEME = re.compile(r"(?<=\w):(?=//)")
# Block syntax that only counts at the start of a line: headings, subtext ("-#"), lists.
_BLOCK_START = re.compile(r"^(\s*)([#-])", re.MULTILINE)
# Kept as is in a link target; everything else (space, ( ) < > " ' \ | ` { } ^ and non-ASCII)
# is percent-encoded, so the target can't end early or carry markdown.
_URL_SAFE = ":/?#@!$&*+,;=%~-._[]"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)].rstrip()
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # never leave half an escape before the ellipsis
        cut = cut[:-1]
    return cut + "…"


def escape(text: str) -> str:
    """Every markdown character backslash-escaped and mentions broken (``@\\u200beveryone``).

    Unlike ``discord.utils.escape_markdown``, a character is escaped whether or not it pairs
    up within ``text``: pieces of text end up side by side in one message."""
    text = _MARKDOWN_CHARS.sub(r"\\\1", text)
    text = _URL_SCHEME.sub(r"\\:", text)
    text = _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}", text)
    return discord.utils.escape_mentions(text)


def safe_text(
    text: str | None, limit: int | None = None, *, fallback: str = "Untitled track"
) -> str:
    """A user-supplied string (a title, a name) made inert: control characters removed,
    whitespace collapsed, markdown and mentions escaped, at most ``limit`` characters in all
    (escapes included; the text is cut before escaping, so no escape is cut in half)."""
    return _fit(clean_title(text or "", fallback), limit, escape)


def link_target(url: str | None, limit: int = URL_MAX) -> str | None:
    """``url`` fit for a markdown link target and an embed's ``url``: http(s) with a host,
    percent-encoded where markdown or Discord's URL check would trip, at most ``limit``
    characters; None for anything else (local paths, other schemes, junk)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = parts.netloc
    if not netloc.isascii():  # an internationalised host name: its ASCII (IDNA) form
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        netloc = netloc.replace(host, ascii_host) if host in netloc else ascii_host
        if not netloc.isascii():  # non-ASCII user info: not worth keeping
            netloc = ascii_host + (f":{parts.port}" if parts.port else "")
    target = quote(urlunsplit(parts._replace(netloc=netloc)), safe=_URL_SAFE)
    return target if len(target) <= limit else None


def masked_link(
    text: str | None,
    url: str | None,
    limit: int,
    *,
    url_limit: int = LINK_URL_MAX,
    fallback: str = "Untitled track",
) -> str | None:
    """``[text](url)`` that Discord parses as exactly one link to ``url`` showing ``text`` as
    written (its bracket pairs included; odd brackets shown as parentheses), the text at most
    ``limit`` characters; None when ``url`` can't be a link (see :func:`link_target`)."""
    target = link_target(url, url_limit)
    if target is None:
        return None
    shown = _fit(clean_title(text or "", fallback), limit, lambda t: escape(_pair_brackets(t)))
    return f"[{shown}]({target})"


def _pair_brackets(text: str) -> str:
    """Keep each ``[`` whose next bracket is a ``]`` and that ``]``; every other bracket
    becomes a parenthesis. What is left is flat ``[...]`` pairs, which link text may hold."""
    out = list(text)
    open_at: int | None = None
    for i, ch in enumerate(text):
        if ch == "[":
            if open_at is not None:
                out[open_at] = "("
            open_at = i
        elif ch == "]":
            if open_at is None:
                out[i] = ")"
            open_at = None
    if open_at is not None:
        out[open_at] = "("
    return "".join(out)


def _fit(raw: str, limit: int | None, render: Callable[[str], str]) -> str:
    """``render(raw)``, with ``raw`` cut (ellipsis) until the result fits in ``limit``."""
    if limit is None:
        return render(raw)
    budget = limit
    while True:
        out = render(clip(raw, budget))
        if len(out) <= limit or budget <= 1:
            return out
        budget -= max(1, len(out) - limit)
