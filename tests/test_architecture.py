"""The layers stay apart (DESIGN.md: front ends -> service -> fetch, inference, storage), read
from the imports of every module, wherever they are (top level, in functions, under
``TYPE_CHECKING``):

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
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import statement; ``from a import b`` yields ``a.b``
    when that is a module, else ``a``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if _is_module(sub) else base), node.lineno


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


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
    seen = dict(imports_of(BOT / "cli" / "catalog.py"))
    assert "bot.demo" in seen  # imported inside cmd_demo
    assert "bot.service.app" in seen  # under TYPE_CHECKING
    assert "bot.service.engine" in seen
    assert any(_under(m, "storage") for m, _ in imports_of(BOT / "service" / "core.py"))
