"""Running Earworm as a real subprocess, shared by the tests that do: an environment free of the
caller's Earworm settings, starting and running a command with its output captured, and the
``earworm`` entry point run to completion."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``EARWORM_*`` setting or Discord token (so only
    what a test sets applies), with the repository importable, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EARWORM_") and k != "DISCORD_TOKEN"
    }
    env["PYTHONPATH"] = str(REPO)
    return env | extra


def bot_command(*args: str) -> list[str]:
    """``python -m bot ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bot", *args]


async def start(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> asyncio.subprocess.Process:
    """``cmd`` started with stdout and stderr piped (``env=None``: this process's environment)."""
    return await asyncio.create_subprocess_exec(
        *cmd, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


@asynccontextmanager
async def running(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``cmd`` started as by :func:`start`, killed on the way out if it is still running (a
    failing test must not leave a bot behind)."""
    proc = await start(cmd, env, cwd)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60
) -> tuple[int, str, str]:
    """``cmd`` run to completion within ``timeout`` seconds: (exit status, stdout, stderr)."""
    proc = await start(cmd, env, cwd)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def earworm(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` run to completion from the repository (blocking), output as text."""
    return subprocess.run(
        bot_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
