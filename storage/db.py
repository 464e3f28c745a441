"""The Earworm database: one SQLite file through one aiosqlite connection.

Usage::

    async with Database.open("earworm.db") as db:
        await db.put_analysis(record)
        track, created = await db.add_track(guild_id, record.content_hash, "Title", "link", url, uid)

or ``db = await Database.open(path)`` ... ``await db.close()``.

Concurrency model: SQLite allows one writer at a time, and one connection is one thread in
aiosqlite, so every operation, read or write, runs under one ``asyncio.Lock``. A write is one
``BEGIN IMMEDIATE ... COMMIT`` transaction that nothing else can interleave with, and a read never
sees another coroutine's half-done transaction. Each method returns only after its transaction
has committed: a like that was acknowledged survives a restart.

Durability: WAL journal, ``synchronous=NORMAL``. A process killed at any point (SIGKILL, crash)
loses nothing that was committed and leaves no trace of a transaction that was not; an OS crash
or power cut may lose the last few commits (never corrupt the file). Pass ``synchronous="FULL"``
where that matters more than write latency.

Isolation between servers: every catalog query takes ``guild_id``; likes, recommendations and
parties reference tracks by (track id, guild id), so the schema itself refuses cross-guild rows.

``Database`` is assembled from one part per concern, each in its own module over the shared
connection (``storage.core.DatabaseCore``): analyses, tracks (with the catalog's statistics),
likes, recommendation history, parties and privacy (``forget_user``); ``storage.rows`` turns rows
into records.
"""

from __future__ import annotations

from storage.analyses import Analyses
from storage.core import Listener
from storage.history import RecommendationHistory
from storage.likes import Likes
from storage.parties import Parties
from storage.privacy import Privacy
from storage.tracks import Tracks

__all__ = ["Database", "Listener"]


class Database(Analyses, Tracks, Likes, RecommendationHistory, Parties, Privacy):
    """Typed async access to the Earworm database. Create with ``await Database.open(path)``."""
