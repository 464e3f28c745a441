"""The Dockerfile's essentials, checked by reading it (no Docker engine needed): two stages, the
locked dependencies installed in a layer before any source is copied, a non-editable install of
the project, a runtime stage with ffmpeg that runs as a non-root user, the health check and the
data volume."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            out.append([])
        assert out, f"{ins.keyword} before the first FROM"
        out[-1].append(ins)
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[list[Instruction]]:
    return stages(parse((REPO / "Dockerfile").read_text()))


def pip_installs(stage: list[Instruction]) -> list[tuple[int, list[str]]]:
    """(instruction index, pip install arguments) for each ``pip install`` in the stage's RUNs."""
    found = []
    for i, ins in enumerate(stage):
        if ins.keyword != "RUN":
            continue
        for command in re.split(r"&&|;", ins.args):
            words = shlex.split(command)
            if "pip" in " ".join(words[:3]) and "install" in words:
                found.append((i, words[words.index("install") + 1 :]))
    return found


def test_two_stages_and_the_runtime_takes_only_the_built_environment(dockerfile) -> None:
    assert len(dockerfile) >= 2
    build, runtime = dockerfile[0], dockerfile[-1]
    name = build[0].args.split()[-1]
    assert " AS " in build[0].args.upper() and name
    copies = [ins.args for ins in runtime if ins.keyword == "COPY"]
    assert copies and all(c.startswith(f"--from={name} ") for c in copies), copies


def test_locked_dependencies_are_installed_before_the_sources_are_copied(dockerfile) -> None:
    build = dockerfile[0]
    installs = pip_installs(build)
    locked = [(i, args) for i, args in installs if "requirements.lock" in args]
    assert locked, "the build stage does not install requirements.lock"
    lock_step, lock_args = locked[0]
    assert "--require-hashes" in lock_args
    copies = [(i, ins.args.split()) for i, ins in enumerate(build) if ins.keyword == "COPY"]
    before = [args for i, args in copies if i < lock_step]
    assert before and all(src.startswith("requirements") for args in before for src in args[:-1]), before
    assert any(i > lock_step for i, _ in copies), "no source COPY after the dependency layer"


def test_the_project_is_installed_non_editable(dockerfile) -> None:
    project = [args for _, args in pip_installs(dockerfile[0]) if "." in args]
    assert project, "the build stage does not install the project"
    for args in project:
        assert "-e" not in args and "--editable" not in args
        assert "--no-deps" in args  # its dependencies are the locked ones, already there


def test_the_runtime_stage_runs_as_a_user_with_ffmpeg_a_health_check_and_the_data_volume(dockerfile) -> None:
    runtime = dockerfile[-1]
    keywords = [ins.keyword for ins in runtime]
    users = [ins.args for ins in runtime if ins.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") < keywords.index("CMD")
    assert any("ffmpeg" in ins.args for ins in runtime if ins.keyword == "RUN")
    (health,) = [ins.args for ins in runtime if ins.keyword == "HEALTHCHECK"]
    assert json.loads(health[health.index("CMD") + 3 :]) == ["earworm", "run", "--health"]
    (cmd,) = [ins.args for ins in runtime if ins.keyword == "CMD"]
    assert json.loads(cmd) == ["earworm", "run"]
    (volume,) = [json.loads(ins.args) for ins in runtime if ins.keyword == "VOLUME"]
    env = " ".join(ins.args for ins in runtime if ins.keyword == "ENV")
    database = re.search(r"EARWORM_DATABASE_PATH=(\S+)", env)
    assert database and database.group(1).startswith(volume[0] + "/")


def test_the_build_context_keeps_what_the_wheel_needs() -> None:
    ignored = {line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()}
    needed = {"pyproject.toml", "README.md", "requirements.lock", "bot", "inference", "storage", "models"}
    assert not needed & ignored
    assert {".git", ".venv", "tests", ".env"} <= ignored
