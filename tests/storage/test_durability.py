"""A process killed in the middle of writing leaves the database intact (SIGKILL, real file)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import Database
from tests.storage.writer_proc import like_ops

WRITER = Path(__file__).with_name("writer_proc.py")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen, prefix: str, timeout: float = 60.0) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"writer exited early: {proc.stderr.read()[-2000:]}")
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no {prefix!r} within {timeout}s")


def kill(proc: subprocess.Popen) -> list[str]:
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return [ln.strip() for ln in rest.splitlines()]


def check_integrity(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    return conn


@pytest.mark.timeout(120)
async def test_kill_mid_transaction(tmp_path):
    path = tmp_path / "kill.db"
    batch, commits = 50, 5
    proc = spawn(str(path), "batches", str(batch), str(commits))
    try:
        lines = read_until(proc, "MID")
        # Let it write more inside the open transaction until uncommitted pages have been
        # spilled into the WAL file: the kill then leaves a torn transaction on disk.
        wal = path.with_name(path.name + "-wal")
        size_at_mid = wal.stat().st_size
        deadline = time.monotonic() + 20
        while wal.stat().st_size <= size_at_mid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wal.stat().st_size > size_at_mid, "nothing of the open transaction reached disk"
    finally:
        lines += kill(proc)
    assert f"MID {commits}" in lines
    assert [ln for ln in lines if ln.startswith("COMMITTED")] == [
        f"COMMITTED {i}" for i in range(commits)
    ]

    conn = check_integrity(path)
    with conn:
        per_guild = dict(
            conn.execute("SELECT guild_id, COUNT(*) FROM tracks GROUP BY guild_id").fetchall()
        )
        assert per_guild == {i: batch for i in range(commits)}  # committed batches, complete
        assert conn.execute("SELECT COUNT(*) FROM recommendations").fetchone()[0] == 0
    conn.close()
    async with Database.open(path) as db:  # and it opens normally, migrations a no-op
        assert await db.count_tracks(commits - 1) == batch
        assert await db.count_tracks(commits) == 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_during_api_writes(tmp_path, seed):
    """SIGKILL at a random moment of a like/unlike loop: the database holds exactly the
    acknowledged operations (plus possibly the one in flight), nothing torn."""
    path = tmp_path / "likes.db"
    proc = spawn(str(path), "likes", str(seed))
    try:
        ready = read_until(proc, "READY")[-1]
        read_until(proc, "ACK")
        time.sleep(random.Random(seed).uniform(0.2, 0.8))
    finally:
        lines = kill(proc)
    ids = [int(x) for x in ready.split()[1].split(",")]
    acks = [int(ln.split()[1]) for ln in lines if ln.startswith("ACK")]
    last = max(acks) if acks else 0
    assert last > 0

    conn = check_integrity(path)
    with conn:
        state = set(conn.execute("SELECT user_id, track_id FROM likes").fetchall())
    conn.close()

    def model(n_ops: int) -> set[tuple[int, int]]:
        liked: set[tuple[int, int]] = set()
        for n, (op, user, t) in enumerate(like_ops(seed)):
            if n >= n_ops:
                break
            (liked.add if op == "like" else liked.discard)((user, ids[t]))
        return liked

    assert state in (model(last + 1), model(last + 2))
