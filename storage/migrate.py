"""Numbered SQL migrations: ``migrations/NNNN_name.sql``, applied in order, each in a transaction.

Applied versions are recorded in ``schema_migrations (version, name, applied_at)``. Re-running is
a no-op; a database that records a version this code does not know raises SchemaTooNewError
(an older Earworm must not write to a schema it does not understand).

Each file is split into statements with ``sqlite3.complete_statement`` (triggers included) and
executed inside one ``BEGIN IMMEDIATE`` transaction together with its ``schema_migrations`` row, so
a migration is applied entirely or not at all. Files must not contain BEGIN/COMMIT or PRAGMAs
that cannot run inside a transaction (``foreign_keys``, ``journal_mode``): a migration that
rebuilds a table follows SQLite's 12-step recipe with ``PRAGMA defer_foreign_keys`` instead.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from storage.failures import storage_error
from storage.records import MigrationError, SchemaTooNewError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_RE = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        out: list[str] = []
        buf = ""
        for line in self.sql.splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                stmt = buf.strip()
                if _strip_comments(stmt):
                    out.append(stmt)
                buf = ""
        if _strip_comments(buf):
            raise MigrationError(
                f"migration {self.version:04d}_{self.name}: unterminated statement"
            )
        return out


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines()).strip().strip(";").strip()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in order; versions must run 1, 2, 3... without gaps."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"bad migration file name {path.name!r}: expected NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: list[Migration] | None = None, where: str = ""
) -> list[int]:
    """Apply the pending migrations on ``conn`` (autocommit mode); returns the versions applied.
    ``where``: the database's path, for the messages."""
    if migrations is None:
        migrations = load_migrations()
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER NOT NULL PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at REAL NOT NULL)"
    )
    known = {m.version: m for m in migrations}
    latest = max(known, default=0)
    async with conn.execute("SELECT version, name FROM schema_migrations") as cur:
        recorded = {int(v): n for v, n in await cur.fetchall()}
    newer = sorted(v for v in recorded if v > latest)
    if newer:
        raise SchemaTooNewError(
            f"the database {where or ''}{' ' if where else ''}has schema version {max(newer)}, "
            f"from a newer Earworm; this one knows only up to {latest}. Upgrade Earworm, or "
            "use a database (or a backup) made for this version."
        )
    for v, name in recorded.items():
        if known[v].name != name:
            raise MigrationError(
                f"migration {v} is recorded as {name!r} but the file says {known[v].name!r}"
            )

    applied: list[int] = []
    for m in migrations:
        if m.version in recorded:
            continue
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the write lock.
            async with conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (m.version,)
            ) as cur:
                if await cur.fetchone() is not None:
                    await conn.execute("ROLLBACK")
                    continue
            for stmt in m.statements():
                await conn.execute(stmt)
            async with conn.execute("PRAGMA foreign_key_check") as cur:
                bad = await cur.fetchall()
            if bad:
                raise MigrationError(
                    f"foreign key violations after migration {m.version}: {bad[:5]}"
                )
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (m.version, m.name, time.time()),
            )
            await conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and storage_error(exc, "") is None:
                raise MigrationError(f"migration {m.version:04d}_{m.name} failed: {exc}") from exc
            raise  # a damaged file, a full disk...: the caller says which file
        log.info("applied migration %04d_%s", m.version, m.name)
        applied.append(m.version)
    return applied
