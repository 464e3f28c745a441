from __future__ import annotations

import sqlite3

import aiosqlite
import pytest

from storage import Database, MigrationError, SchemaTooNewError
from storage.migrate import Migration, apply_migrations, load_migrations

EXPECTED_TABLES = {
    "schema_migrations",
    "analyses",
    "tracks",
    "likes",
    "parties",
    "party_members",
    "recommendations",
}


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows if not r[0].startswith("sqlite_")}


async def test_migrates_empty_database(db_path):
    async with Database.open(db_path) as db:
        assert await db.schema_version() == len(load_migrations())
    assert EXPECTED_TABLES <= tables(db_path)
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
        assert [(v, n) for v, n, _ in rows] == [(1, "initial")]
        assert rows[0][2] > 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_rerun_is_noop(db_path):
    async with Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        before = conn.execute("SELECT * FROM schema_migrations").fetchall()
        schema_before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    for _ in range(2):
        async with Database.open(db_path):
            pass
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await apply_migrations(conn) == []
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT * FROM schema_migrations").fetchall() == before
        assert (
            conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema_before
        )


async def test_pragmas(db):
    conn = db._conn
    async with conn.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with conn.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1
    async with conn.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 1  # NORMAL
    async with conn.execute("PRAGMA busy_timeout") as cur:
        assert (await cur.fetchone())[0] == 5000


async def test_newer_database_is_refused(db_path):
    async with Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', 0)")
    with pytest.raises(SchemaTooNewError, match="999"):
        await Database.open(db_path)


async def test_renamed_migration_is_refused(db_path):
    async with Database.open(db_path):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE schema_migrations SET name = 'something_else' WHERE version = 1")
    with pytest.raises(MigrationError, match="recorded as"):
        await Database.open(db_path)


async def test_failed_migration_rolls_back_entirely(db_path):
    good = Migration(1, "one", "CREATE TABLE a (x INTEGER);")
    bad = Migration(
        2,
        "two",
        "CREATE TABLE b (x INTEGER);\nINSERT INTO a VALUES (1);\nINSERT INTO nowhere VALUES (1);",
    )
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await apply_migrations(conn, [good]) == [1]
        with pytest.raises(MigrationError, match="0002_two"):
            await apply_migrations(conn, [good, bad])
        assert not conn.in_transaction
    assert tables(db_path) == {"schema_migrations", "a"}
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 1


def test_statement_splitting_handles_triggers_and_comments():
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d' WHERE rowid = new.rowid;
    END;
    -- trailing comment
    """
    stmts = Migration(1, "x", sql).statements()
    assert len(stmts) == 2
    assert stmts[1].rstrip().endswith("END;")


def test_load_migrations_rejects_gaps_and_bad_names(tmp_path):
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        load_migrations(tmp_path)
    (tmp_path / "0003_c.sql").unlink()
    (tmp_path / "2_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="bad migration file name"):
        load_migrations(tmp_path)


def test_shipped_migrations_are_ordered():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"
    assert all(m.statements() for m in migrations)
