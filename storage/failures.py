"""SQLite failures the operator can act on, as storage errors with a one-line message.

``sqlite3`` reports a damaged file, a read-only folder and a full disk all as ``DatabaseError``
or ``OperationalError``; this module turns them into :class:`~storage.records.StorageError`
subclasses whose message says what is wrong with which file and what to do about it. Errors
that are bugs rather than circumstances (a constraint, bad SQL) pass through unchanged.

    with sqlite_errors(path):
        ...  # any sqlite3 call
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.records import (
    DatabaseCorrupt,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
    StorageFull,
)

# SQLite's primary result codes (the low byte of an extended code).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3, 5, 6, 8, 10, 11, 13, 14, 26,
)  # fmt: skip


@contextmanager
def sqlite_errors(path: str) -> Iterator[None]:
    """Re-raise the circumstantial ``sqlite3`` errors inside as storage errors about ``path``."""
    try:
        yield
    except sqlite3.Error as exc:
        translated = storage_error(exc, path)
        if translated is None:
            raise
        raise translated from exc


def storage_error(exc: BaseException, path: str) -> StorageError | None:
    """The storage error for a failure of the database at ``path``; None for a bug (a constraint,
    bad SQL) or anything that is not about the file, its folder or its disk."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):  # creating the folder, say
        return _os_error(exc, path)
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    said = f"SQLite says: {exc}"
    if primary in (_CORRUPT, _NOTADB):
        return damaged(path, said)
    if primary == _FULL:
        return StorageFull(
            f"the disk holding the database {path} is full ({said}). Free some space; nothing "
            "that was saved before has been lost."
        )
    if primary in (_BUSY, _LOCKED):
        return DatabaseUnavailable(
            f"the database {path} is locked by another program ({said}). Try again once it has "
            "finished, or stop it."
        )
    if primary in (_READONLY, _CANTOPEN, _PERM, _IOERR):
        return access_problem(path, said) or (
            DatabaseReadOnly(
                f"the database {path} is read-only ({said}). Earworm must be able to write it."
            )
            if primary == _READONLY
            else DatabaseUnavailable(
                f"cannot use the database {path} ({said}). Check that its folder exists and "
                "that the disk works."
            )
        )
    return None


def damaged(path: str, said: str) -> DatabaseCorrupt:
    said = " ".join(said.split())  # quick_check reports on several lines: keep it to one
    return DatabaseCorrupt(
        f"the database {path} is damaged or is not an Earworm database ({said}). Restore it "
        "from a backup, or move it aside to start an empty one."
    )


def access_problem(path: str, said: str) -> StorageError | None:
    """A precise diagnosis when the file or its folder cannot be written or reached; None when
    neither looks like the cause."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    file = Path(path)
    folder = file.parent
    fix = (
        "Earworm writes the file and keeps two files beside it (-wal and -shm): give the user "
        "it runs as write access to the file and its folder, or point --db / "
        "EARWORM_DATABASE_PATH somewhere writable."
    )
    if not folder.is_dir():
        return DatabaseUnavailable(
            f"cannot open the database {path}: the folder {folder} does not exist ({said}). "
            "Create it, or point --db / EARWORM_DATABASE_PATH at an existing folder."
        )
    if file.exists() and not os.access(file, os.R_OK | os.W_OK):
        return DatabaseReadOnly(f"the database file {path} is read-only ({said}). {fix}")
    if not os.access(folder, os.W_OK | os.X_OK):
        return DatabaseReadOnly(f"the folder {folder} of the database is read-only ({said}). {fix}")
    if _read_only_mount(folder):
        return DatabaseReadOnly(f"the database {path} is on a read-only file system ({said}).")
    return None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _os_error(exc: OSError, path: str) -> StorageError:
    said = exc.strerror or str(exc)
    where = exc.filename or path
    if exc.errno == errno.ENOSPC:
        return StorageFull(f"the disk holding {where} is full ({said}). Free some space.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DatabaseReadOnly(
            f"cannot write {where} for the database {path} ({said}). Give Earworm's user write "
            "access there, or point --db / EARWORM_DATABASE_PATH somewhere writable."
        )
    return DatabaseUnavailable(f"cannot prepare {where} for the database {path} ({said}).")
