"""Module-level job functions for tests/inference/test_pool.py (workers import them by name)."""

from __future__ import annotations

import ctypes
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from inference.errors import CorruptAudio
from inference.pool import worker_threads

_STATE: dict[str, Any] = {"init_calls": 0}


def init_state(token: str) -> None:
    """Initializer: records that it ran in this process (and how often)."""
    _STATE["init_calls"] += 1
    _STATE["token"] = token
    _STATE["pid"] = os.getpid()


def failing_init() -> None:
    raise RuntimeError("models missing: /nowhere/encoder.onnx")


def get_state() -> dict[str, Any]:
    return {
        **_STATE,
        "pid": os.getpid(),
        "threads": worker_threads(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
    }


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def pid() -> int:
    return os.getpid()


def timed_sleep(seconds: float) -> tuple[int, float, float]:
    """Returns (pid, start, end) wall-clock timestamps."""
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


def spin(seconds: float) -> int:
    """Burn CPU for ``seconds``."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return os.getpid()


def write_marker(path: str) -> int:
    Path(path).write_text(str(os.getpid()))
    return os.getpid()


def sleep_then_marker(seconds: float, path: str) -> int:
    time.sleep(seconds)
    return write_marker(path)


def raise_corrupt(message: str) -> None:
    raise CorruptAudio(message)


class NeedsTwoArgs(Exception):
    """Pickles but cannot be rebuilt (its __init__ needs two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")


def raise_unrebuildable() -> None:
    raise NeedsTwoArgs("left", "right")


def crash_exit() -> None:
    os._exit(1)


def crash_segfault() -> None:
    ctypes.string_at(0)


def crash_sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does


def hang() -> None:
    time.sleep(60)


def copy_upload_then_hang(size: int = 1 << 16) -> None:
    """What an analysis does with an upload ffmpeg must read (inference.audio writes it to a
    temp file), then a hang: only the pool's clean-up can remove that copy."""
    fd, _ = tempfile.mkstemp(prefix="earworm-", suffix=".audio")
    with os.fdopen(fd, "wb") as f:
        f.write(b"\0" * size)
    time.sleep(60)


def unpicklable_result() -> Any:
    return threading.Lock()
