"""Temporary folders that a parent process owns on behalf of its worker processes.

A worker writes temporary files (a copy of an upload for ffmpeg, ffmpeg's own) into a folder the
parent made for it; the parent deletes that folder once it has reaped the worker, so nothing
outlives a worker that was killed (SIGKILL, a timeout, shutdown) before its own clean-up ran.

    root = make_root()                 # parent: one folder per pool, under the temp folder
    folder = make_worker_folder(root)  # parent: one per worker, passed to it
    use_as_temp(folder)                # worker: first thing, before any job
    remove(folder)                     # parent: after the worker exited
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

log = logging.getLogger(__name__)

PREFIX = "earworm-pool-"  # + the parent's pid + "-"


def make_root(parent: str | os.PathLike[str] | None = None) -> str:
    """A new folder for one pool under ``parent`` (default: the system's temp folder), after
    deleting those left by pools whose process is gone (killed before it could clean up)."""
    where = os.fspath(parent) if parent else tempfile.gettempdir()
    _sweep_orphans(where)
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=where)


def make_worker_folder(root: str | None) -> str:
    return tempfile.mkdtemp(prefix="worker-", dir=root)


def use_as_temp(folder: str) -> None:
    """In the worker: send every temporary file (ours, and child processes') to ``folder``."""
    for var in ("TMPDIR", "TEMP", "TMP"):
        os.environ[var] = folder
    tempfile.tempdir = folder


def remove(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_orphans(parent: str) -> None:
    """Only folders with our prefix, owned by this user, whose pool process no longer exists."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(PREFIX) :].split("-", 1)[0] if entry.name.startswith(PREFIX) else ""
        try:
            mine = entry.is_dir(follow_symlinks=False) and entry.stat().st_uid == os.getuid()
            if mine and pid.isdigit() and not _alive(int(pid)):
                remove(entry.path)
                log.info("removed %s, left by a pool that was killed", entry.path)
        except OSError:
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists; someone else's
        return True
    return True
