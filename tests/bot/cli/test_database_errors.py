"""A database Earworm cannot use (damaged, not a database, from a newer Earworm, read-only file or
folder) stops every command that opens it with one line that says what is wrong and what to do:
exit status 2, no traceback. Real ``earworm`` subprocesses on real, really damaged SQLite files."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from inference.analysis import model_version
from storage import AnalysisRecord, Database
from tests.bot.subprocesses import REPO, bot_command, clean_env, run

PAGE = 4096


def unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions apply to it: root ignores them (CAP_DAC_OVERRIDE),
    so as root drop those capabilities for the child."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: setpriv (util-linux) is needed to honour file modes"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *cmd]


async def make_database(path: Path) -> None:
    """A small catalog that works: 40 tracks of the current model in guild 1, 5 of them liked
    by user 7 (so ``recommend`` has something to pick, and to remember)."""
    rng = np.random.default_rng(0)
    version = model_version()
    async with Database.open(path) as db:
        for i in range(40):
            emb = rng.normal(size=200).astype(np.float32)
            rec = AnalysisRecord(f"{i:064x}", version, emb / np.linalg.norm(emb), 30.0, {"jazz": 1})
            await db.put_analysis(rec)
            track, _ = await db.add_track(1, rec.content_hash, f"t{i}", "file", f"/m/{i}.ogg", 7)
            if i < 5:
                await db.like(1, 7, track.id)


def not_a_database(path: Path) -> str:
    path.write_bytes(b"These are my notes, not a database.\n" * 200)
    return "not an Earworm database"


def truncated(path: Path) -> str:
    os.truncate(path, path.stat().st_size // 3)
    return "damaged"


def garbage_page(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'tracks'"
        ).fetchone()
    with open(path, "r+b") as f:
        f.seek((root - 1) * PAGE)
        f.write(b"\xab" * PAGE)
    return "damaged"


def newer_schema(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', 0)")
    return "newer Earworm"


def read_only_file(path: Path) -> str:
    path.chmod(0o444)
    return "read-only"


def read_only_folder(path: Path) -> str:
    path.parent.chmod(0o555)
    return "read-only"


DAMAGE: dict[str, Callable[[Path], str]] = {
    "not a database": not_a_database,
    "truncated": truncated,
    "garbage page": garbage_page,
    "newer schema": newer_schema,
    "read-only file": read_only_file,
    "read-only folder": read_only_folder,
}


@pytest.fixture(scope="module")
def good_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "earworm.db"
    asyncio.run(make_database(path))
    return path


@pytest.fixture
def broken(good_database: Path, tmp_path: Path):
    """damage name -> (database path, words its message must contain), each in its own folder."""
    made = {}
    for i, (name, damage) in enumerate(DAMAGE.items()):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        path = folder / "earworm.db"
        shutil.copy(good_database, path)
        made[name] = (path, damage(path))
    yield made
    for path, _ in made.values():  # let pytest clean up
        path.parent.chmod(stat.S_IRWXU)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


async def earworm(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return await run(unprivileged(bot_command(*args)), env, timeout=120)


def check_one_clear_line(
    case: str, result: tuple[int, str, str], path: Path, expected: str
) -> list[str]:
    """What is wrong with ``result`` (empty when it is one clear line and exit status 2)."""
    code, out, err = result
    lines = err.strip().splitlines()
    problems = []
    if "Traceback" in err or len(lines) != 1:
        problems.append(f"{case}: not one line:\n{err[-3000:]}")
    elif not (lines[0].startswith("earworm: ") and expected in lines[0]):
        problems.append(f"{case}: {lines[0]!r} does not say {expected!r}")
    elif str(path) not in lines[0] and str(path.parent) not in lines[0]:
        problems.append(f"{case}: {lines[0]!r} does not name the file or its folder")
    if code != 2:
        problems.append(f"{case}: exit status {code}")
    return problems


async def test_recommend_on_an_unusable_database_says_what_to_do(broken):
    runs = {
        name: earworm("recommend", "--user", "7", "--guild", "1", "--db", str(path))
        for name, (path, _) in broken.items()
    }
    results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    problems = []
    for name, (path, expected) in broken.items():
        problems += check_one_clear_line(name, results[name], path, expected)
        assert results[name][1] == ""  # nothing printed as if it had worked
    assert not problems, "\n".join(problems)


async def test_run_on_an_unusable_database_says_what_to_do(broken):
    """``earworm run`` opens (and checks) the database before it connects to Discord."""
    base = clean_env(
        DISCORD_TOKEN="fake-token",
        EARWORM_WORKERS="1",
        EARWORM_API_BASE_URL="http://127.0.0.1:9/api/v10",  # never reached
    )
    runs = {
        name: earworm("run", env=base | {"EARWORM_DATABASE_PATH": str(path)})
        for name, (path, _) in broken.items()
    }
    results = dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))
    problems = []
    for name, (path, expected) in broken.items():
        problems += check_one_clear_line(name, results[name], path, expected)
    assert not problems, "\n".join(problems)


DAMAGE_FOR = {"party": "garbage page", "forget": "garbage page"}


async def test_every_command_that_opens_the_database_says_the_same(broken, tmp_path):
    """party and forget on a damaged page (found by the query that reads it); index, like and
    reindex on a truncated file (found on opening, before any analysis starts); a new file in a
    read-only folder."""
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "vibe_ace.ogg", music)
    commands = {
        "index": ["index", str(music), "--guild", "1", "--workers", "1"],
        "like": ["like", str(music / "vibe_ace.ogg"), "--user", "7", "--guild", "1"],
        "party": ["party", "--users", "7,8", "--guild", "1"],
        "forget": ["forget", "--user", "7"],
        "reindex": ["reindex"],
    }
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    new = locked / "new.db"
    try:
        runs = [
            earworm(*args, "--db", str(broken[DAMAGE_FOR.get(name, "truncated")][0]))
            for name, args in commands.items()
        ]
        runs.append(earworm("forget", "--user", "1", "--db", str(new)))
        results = await asyncio.gather(*runs)
    finally:
        locked.chmod(stat.S_IRWXU)
    problems = []
    for name, result in zip(commands, results, strict=False):
        path, expected = broken[DAMAGE_FOR.get(name, "truncated")]
        problems += check_one_clear_line(name, result, path, expected)
    problems += check_one_clear_line("new file", results[-1], new, "read-only")
    assert not problems, "\n".join(problems)
    assert not new.exists()
