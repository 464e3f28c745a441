"""The layering rules of DESIGN.md (front ends -> service -> fetch, inference, storage), checked by
reading the imports of the source (no code runs).

Each rule is one test function. Imports are read with ``ast`` from every module of a package,
wherever they sit (top level, inside functions, under ``TYPE_CHECKING`` or ``try``), so a rule
cannot be dodged by importing lazily:

- ``inference/`` imports no network library; only ``bot/fetch/`` imports yt-dlp, and only its
  public modules and names;
- no module under ``bot/`` other than the service (``bot/service/``) imports ``storage``;
- no cog imports another cog;
- the service knows neither Discord nor the terminal, and formatting shared by both front ends
  (``bot/present/``) imports neither front end;
- the Discord front end does not import the terminal's, nor the terminal's the Discord one
  (but ``earworm run``, which starts it);
- no two modules under ``bot/`` import each other, directly or through others.
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


def imports_of(path: Path, module: str | None = None) -> list[tuple[str, int]]:
    """(dotted name, line) for everything a module imports: ``from a.b import c`` gives ``a.b``
    and ``a.b.c`` (``c`` may be a submodule); relative imports are resolved against the module's
    package. ``module``: the file's dotted name when it does not live in this repository."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    return {name for name, _ in imports_of(path, module)}


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


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def bot_modules() -> dict[str, Path]:
    return {module_name(p): p for p in modules_under("bot")}


def violations(modules: dict[str, Path], forbidden: tuple[str, ...], allowed_in: tuple[str, ...] = ()) -> list[str]:
    found = []
    for name, path in modules.items():
        if _under(name, *allowed_in):
            continue
        for imported, line in imports_of(path):
            if _under(imported, *forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return found


def test_only_the_service_imports_storage():
    assert violations(bot_modules(), ("storage",), allowed_in=("bot.service",)) == []


def test_no_cog_imports_another_cog():
    cogs = {n: p for n, p in bot_modules().items() if _under(n, "bot.discord.cogs") and n != "bot.discord.cogs"}
    assert len(cogs) >= 7
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {imported}"
        for name, path in cogs.items()
        for imported, line in imports_of(path)
        if _under(imported, "bot.discord.cogs") and imported != name
    ]
    assert found == []


def test_the_service_knows_no_front_end():
    service = {n: p for n, p in bot_modules().items() if _under(n, "bot.service")}
    assert violations(service, ("discord", "bot.discord", "bot.cli", "bot.present", "bot.config", "bot.demo")) == []


def test_shared_formatting_imports_no_front_end():
    present = {n: p for n, p in bot_modules().items() if _under(n, "bot.present")}
    assert violations(present, ("discord", "bot.discord", "bot.cli")) == []


def test_the_front_ends_do_not_import_each_other():
    modules = bot_modules()
    discord_side = {n: p for n, p in modules.items() if _under(n, "bot.discord")}
    # `earworm run` is the one command that starts the Discord front end.
    terminal_side = {n: p for n, p in modules.items() if _under(n, "bot.cli") and n != "bot.cli.run"}
    assert violations(discord_side, ("bot.cli",)) == []
    assert violations(terminal_side, ("bot.discord",)) == []


def test_no_import_cycles_in_bot():
    modules = bot_modules()
    graph = {
        name: {imported for imported, _ in imports_of(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    cycles = []
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for nxt in sorted(graph[name]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_rules_read_real_imports():
    """The reader itself: it sees imports in functions and under TYPE_CHECKING, and resolves
    ``from package import module``."""
    seen = dict(imports_of(ROOT / "bot" / "cli" / "catalog.py"))
    assert "bot.demo" in seen  # imported inside cmd_demo
    assert "bot.service.app" in seen  # under TYPE_CHECKING
    assert "bot.service.engine" in seen
    assert any(_under(m, "storage") for m, _ in imports_of(ROOT / "bot" / "service" / "core.py"))
