"""What real Discord refuses in what a bot sends: the fake's checks, in one place.

:func:`validate_message` covers a message payload (content, embeds and their limits and URLs,
components); :func:`validate_command` a command from the synced list. Each returns a one-line
reason, or None when Discord would accept it. The fake answers a refused request with 400
Invalid Form Body (50035) and lists it in ``fake.problems``, so a test fails on anything the bot
sends that Discord would not take, wherever it is sent from.

Limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
(title 256, description 4096, 25 fields, field name 256 and value 1024, footer 2048, author
256, 10 embeds and 6000 characters in all per message), 2000 characters of content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .models import FLAG_IS_COMPONENTS_V2

SELECT_TYPES = (3, 5, 6, 7, 8)


def walk_components(components: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for c in components:
        yield c
        yield from walk_components(c.get("components", []))
        for key in ("accessory", "component"):
            if isinstance(c.get(key), Mapping):
                yield from walk_components([c[key]])


def validate_command(cmd: Mapping[str, Any]) -> str | None:
    name = cmd.get("name", "")
    ctype = cmd.get("type", 1)
    if ctype == 1:
        if not re.match(r"^[-_\w]{1,32}$", name) or name != name.lower():
            return f"invalid slash command name {name!r}"
        if not 1 <= len(cmd.get("description", "")) <= 100:
            return f"/{name}: description must be 1-100 characters"
    elif not 1 <= len(name) <= 32:
        return f"invalid context menu name {name!r}"

    def check_options(opts: list[Mapping[str, Any]], where: str) -> str | None:
        if len(opts) > 25:
            return f"{where}: more than 25 options"
        for o in opts:
            if not re.match(r"^[-_\w]{1,32}$", o.get("name", "")) or o["name"] != o["name"].lower():
                return f"{where}: invalid option name {o.get('name')!r}"
            if not 1 <= len(o.get("description", "")) <= 100:
                return f"{where} {o['name']}: description must be 1-100 characters"
            if len(o.get("choices") or []) > 25:
                return f"{where} {o['name']}: more than 25 choices"
            problem = check_options(o.get("options", []), f"{where} {o['name']}")
            if problem:
                return problem
        return None

    return check_options(cmd.get("options", []), f"/{name}")


def _embed_urls(embed: Mapping[str, Any]) -> Iterable[tuple[str, str, bool]]:
    """(where, url, is a media URL) for every URL an embed carries."""
    if embed.get("url") is not None:
        yield "url", str(embed["url"]), False
    for key in ("image", "thumbnail", "video"):
        if (embed.get(key) or {}).get("url") is not None:
            yield f"{key}.url", str(embed[key]["url"]), True
    for key, url_keys in (("author", ("url", "icon_url")), ("footer", ("icon_url",))):
        for url_key in url_keys:
            if (embed.get(key) or {}).get(url_key) is not None:
                yield f"{key}.{url_key}", str(embed[key][url_key]), url_key == "icon_url"


def _well_formed_url(url: str, *, media: bool) -> bool:
    """Discord's check on embed URLs: http(s) with a host (media may also be
    ``attachment://name``), no whitespace or control characters, at most 2048 characters."""
    if len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    parts = urlsplit(url)
    if media and parts.scheme == "attachment":
        return bool(parts.netloc or parts.path)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_message(
    payload: Mapping[str, Any], uploads: Sequence[object] = (), *, edit: bool = False
) -> str | None:
    """What Discord would reject in a message payload (content, embeds, components), as a
    one-line reason; None when it is fine. The fake answers such requests with 400 (50035)."""
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    components = payload.get("components") or []
    flags = int(payload.get("flags") or 0)
    if not edit and not (
        content
        or embeds
        or uploads
        or components
        or payload.get("poll")
        or payload.get("sticker_ids")
    ):
        return "Cannot send an empty message (code 50006)"
    if len(content) > 2000:
        return f"content is {len(content)} characters (max 2000)"
    if len(embeds) > 10:
        return f"{len(embeds)} embeds (max 10)"
    total = 0
    for i, e in enumerate(embeds):
        limits = {"title": 256, "description": 4096}
        for key, limit in limits.items():
            n = len(e.get(key) or "")
            total += n
            if n > limit:
                return f"embeds[{i}].{key} is {n} characters (max {limit})"
        fields = e.get("fields") or []
        if len(fields) > 25:
            return f"embeds[{i}] has {len(fields)} fields (max 25)"
        for j, f in enumerate(fields):
            if not f.get("name") or not f.get("value"):
                return f"embeds[{i}].fields[{j}] needs a non-empty name and value"
            if len(f["name"]) > 256 or len(f["value"]) > 1024:
                return f"embeds[{i}].fields[{j}] too long (name max 256, value max 1024)"
            total += len(f["name"]) + len(f["value"])
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        if len(footer) > 2048 or len(author) > 256:
            return f"embeds[{i}] footer/author too long"
        total += len(footer) + len(author)
        for where, url, media in _embed_urls(e):
            if not _well_formed_url(url, media=media):
                return f"embeds[{i}].{where}: Not a well formed URL ({url[:60]!r})"
    if total > 6000:
        return f"embeds total {total} characters (max 6000)"
    if not flags & FLAG_IS_COMPONENTS_V2:
        if len(components) > 5:
            return f"{len(components)} action rows (max 5)"
        for r, row in enumerate(components):
            if row.get("type") != 1:
                return f"components[{r}] is not an action row (type {row.get('type')})"
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                return f"components[{r}] has {len(children)} components (1-5)"
    for c in walk_components(components):
        if len(c.get("custom_id") or "") > 100:
            return f"custom_id {c['custom_id'][:20]!r}... longer than 100"
        if c.get("type") == 2 and len(c.get("label") or "") > 80:
            return f"button label {c['label'][:20]!r}... longer than 80"
        if c.get("type") in SELECT_TYPES and len(c.get("options") or []) > 25:
            return "select with more than 25 options"
    return None
