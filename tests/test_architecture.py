"""The layering rules of DESIGN.md, checked by reading the imports of the source (no code runs).

Each rule is one test function. Imports are read with ``ast`` from every module of a package,
wherever they sit (top level, inside functions, under ``TYPE_CHECKING`` or ``try``), so a rule
cannot be dodged by importing lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Libraries that talk to the network. ``inference`` is pure compute: audio in, numbers out.
NETWORK_LIBRARIES = frozenset(
    {
        "aiohttp",
        "discord",
        "http",  # http.client, http.server, http.cookiejar
        "httpx",
        "requests",
        "socket",
        "ssl",
        "urllib",
        "urllib3",
        "websockets",
        "yt_dlp",
    }
)


def modules_under(package: str) -> list[Path]:
    """Every ``.py`` file of a top-level package, sorted."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules under {package}/"
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """The dotted names a module imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``:
    ``c`` may be a submodule); relative imports are resolved against the module's package.
    ``module``: the file's dotted name when it does not live in this repository."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def top_level(name: str) -> str:
    return name.split(".", 1)[0]


def test_import_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The rules below are only as good as this reader: it must see lazy and relative imports.
    path = tmp_path / "example.py"
    path.write_text(
        "from __future__ import annotations\n"
        "import numpy as np, os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from . import audio\n"
        "from .errors import FetchError\n"
        "if TYPE_CHECKING:\n"
        "    from urllib.parse import urlsplit\n"
        "def lazy():\n"
        "    try:\n"
        "        import socket\n"
        "    except ImportError:\n"
        "        pass\n"
        "    from yt_dlp.networking import _urllib\n"
    )
    found = imported_modules(path, module="inference.example")
    assert {"numpy", "os.path", "inference.audio", "inference.errors", "urllib.parse"} <= found
    assert {"socket", "yt_dlp.networking", "yt_dlp.networking._urllib"} <= found
    assert {top_level(name) for name in found} & NETWORK_LIBRARIES == {"urllib", "socket", "yt_dlp"}


def test_inference_imports_no_network_library() -> None:
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules_under("inference")
        for name in imported_modules(path)
        if top_level(name) in NETWORK_LIBRARIES
    }
    assert not offenders, "inference/ is pure compute (DESIGN.md): " + "; ".join(sorted(offenders))


def test_only_bot_fetch_imports_yt_dlp() -> None:
    # Link fetching lives in one package, behind its address guard; nothing else reaches yt-dlp.
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("bot", "inference", "storage")
        for path in modules_under(package)
        if not module_name(path).startswith("bot.fetch")
        for name in imported_modules(path)
        if top_level(name) == "yt_dlp"
    }
    assert not offenders, "; ".join(sorted(offenders))


def test_only_yt_dlp_public_modules_and_names_are_used() -> None:
    # No ``yt_dlp.networking._urllib`` and the like, no private name imported from yt-dlp, and
    # no private attribute reached through a yt-dlp module (``yt_dlp.YoutubeDL._opener``): a
    # routine yt-dlp upgrade may change any of them.
    offenders: set[str] = set()
    for path in [p for package in ("bot", "inference", "storage") for p in modules_under(package)]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if top_level(alias.name) == "yt_dlp":
                        aliases.add((alias.asname or alias.name).split(".", 1)[0])
        for name in imported_modules(path):
            if top_level(name) == "yt_dlp" and any(p.startswith("_") for p in name.split(".")):
                offenders.add(f"{path.relative_to(ROOT)} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in aliases:
                    offenders.add(f"{path.relative_to(ROOT)}:{node.lineno} uses .{node.attr}")
    assert not offenders, "; ".join(sorted(offenders))
