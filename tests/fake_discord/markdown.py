"""How Discord would render a piece of message or embed text: a model of its inline markdown.

Discord's client parses text with its fork of simple-markdown (Khan Academy). This module ports
the inline rules that matter for text a bot builds from user input, with simple-markdown's own
regular expressions and rule order (the first rule that matches at a position wins):

escape ``\\*``, autolink ``<https://...>``, bare URL, masked link ``[text](target)``, Discord's
``<@id>`` / ``<#id>`` / ``<:emoji:id>`` / ``<t:...>`` / ``</cmd:id>`` tags, strong ``**``,
underline ``__``, emphasis ``*``/``_``, strikethrough ``~~``, spoiler ``||``, inline code, text.

The masked-link rule is the one that matters most: the end of the link text is found by a regex
that does not honour backslash escapes (``LINK_INSIDE`` below, verbatim from simple-markdown),
and the target ends at whitespace or at a ``)`` that closes nothing. Tests use :func:`parse` to
check what users would actually see: which links exist, where they point, and whether any
user-supplied text turned into formatting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Node", "formatting", "links", "parse", "plain"]

# simple-markdown's link rule, as Discord ships it.
LINK_INSIDE = r"(?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*"
LINK_HREF_AND_TITLE = r"\s*<?((?:\([^)]*\)|[^\s\\]|\\.)*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*"

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("escape", re.compile(r"\\([^0-9A-Za-z\s])")),
    ("autolink", re.compile(r"<([^: >]+:/[^ >]+)>")),
    ("url", re.compile(r"(https?://[^\s<]+[^<.,:;\"')\]\s])")),
    ("link", re.compile(r"\[(" + LINK_INSIDE + r")\]\(" + LINK_HREF_AND_TITLE + r"\)")),
    ("tag", re.compile(r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?|/[\w -]+:\d+)>")),
    ("strong", re.compile(r"\*\*([\s\S]+?)\*\*(?!\*)")),
    ("u", re.compile(r"__([\s\S]+?)__(?!_)")),
    (
        "em",
        re.compile(
            r"\b_((?:__|\\[\s\S]|[^\\_])+?)_\b"
            r"|\*(?=\S)((?:\*\*|\\[\s\S]|\s+(?:\\[\s\S]|[^\s*\\]|\*\*)|[^\s*\\])+?)\*(?!\*)"
        ),
    ),
    ("del", re.compile(r"~~(?=\S)((?:\\[\s\S]|~(?!~)|[^\s~\\]|\s(?!~~))+?)~~")),
    ("spoiler", re.compile(r"\|\|([\s\S]+?)\|\|")),
    ("code", re.compile(r"(`+)([\s\S]*?[^`])\1(?!`)")),
    (
        "text",
        re.compile(r"[\s\S]+?(?=[^0-9A-Za-z\s\u00c0-\uffff]|\n\n| {2,}\n|\w+:\S|$)", re.ASCII),
    ),
]
_NESTED = {"strong", "u", "em", "del", "spoiler"}


@dataclass
class Node:
    """``kind``: text, link, tag, code or a formatting kind (strong, u, em, del, spoiler)."""

    kind: str
    text: str = ""  # text: the characters shown; tag/code: the source
    target: str | None = None  # link: where it points
    children: list[Node] = field(default_factory=list)


def parse(source: str) -> list[Node]:
    """The inline nodes Discord would make of ``source`` (adjacent text merged)."""
    nodes: list[Node] = []
    pos = 0
    while pos < len(source):
        for kind, pattern in _RULES:
            m = pattern.match(source, pos)
            if m is None or m.end() == pos:
                continue
            nodes.append(_node(kind, m))
            pos = m.end()
            break
        else:  # pragma: no cover - the text rule always matches
            nodes.append(Node("text", source[pos]))
            pos += 1
    return _merge(nodes)


def _node(kind: str, m: re.Match[str]) -> Node:
    if kind == "escape":
        return Node("text", m[1])
    if kind in ("autolink", "url"):
        return Node("link", m[1], target=m[1], children=[Node("text", m[1])])
    if kind == "link":
        return Node("link", target=_unescape_url(m[2]), children=parse(m[1]))
    if kind in ("tag", "code"):
        return Node(kind, m[0])
    if kind in _NESTED:
        inner = next(g for g in m.groups() if g is not None)
        return Node(kind, children=parse(inner))
    return Node("text", m[0])


def _unescape_url(raw: str) -> str:
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", raw)


def _merge(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for n in nodes:
        if n.kind == "text" and out and out[-1].kind == "text":
            out[-1] = Node("text", out[-1].text + n.text)
        else:
            out.append(n)
    return out


def plain(nodes: list[Node]) -> str:
    """The characters shown (formatting dropped, tags and code as written)."""
    return "".join(n.text if not n.children else plain(n.children) for n in nodes)


def links(nodes: list[Node]) -> list[Node]:
    """Every link, nested ones included, in order."""
    found: list[Node] = []
    for n in nodes:
        if n.kind == "link":
            found.append(n)
        found += links(n.children)
    return found


def formatting(nodes: list[Node]) -> list[Node]:
    """Every node that is neither plain text nor a link (emphasis, spoilers, code, mentions),
    nested ones included."""
    found: list[Node] = []
    for n in nodes:
        if n.kind not in ("text", "link"):
            found.append(n)
        found += formatting(n.children)
    return found
