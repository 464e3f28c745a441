"""Rows to records and back: the SQL column lists, the row readers, and JSON/embedding encoding
shared by every part of ``Database``."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
import numpy as np

from storage.records import (
    AnalysisRecord,
    PartyRecord,
    StorageError,
    TrackNotFoundError,
    TrackRecord,
    to_datetime,
)

__all__ = [
    "PARTY_COLUMNS",
    "TRACK_COLUMNS",
    "TRACK_FROM",
    "analysis_from_row",
    "changes",
    "check_embedding",
    "embedding_from_blob",
    "party_from_row",
    "require_track",
    "to_json",
    "track_from_row",
]


TRACK_COLUMNS = (
    "t.id, t.guild_id, t.content_hash, t.title, t.source_kind, t.source_url, t.added_by, "
    "t.added_at, a.model_version, a.duration_s, a.genres, a.dim, a.embedding"
)
TRACK_FROM = "tracks AS t JOIN analyses AS a ON a.content_hash = t.content_hash"
PARTY_COLUMNS = "id, guild_id, channel_id, message_id, host_id, created_at, ended_at"


async def require_track(conn: aiosqlite.Connection, guild_id: int, track_id: int) -> None:
    async with conn.execute(
        "SELECT 1 FROM tracks WHERE id = ? AND guild_id = ?", (track_id, guild_id)
    ) as cur:
        if await cur.fetchone() is None:
            raise TrackNotFoundError(f"no track {track_id} in guild {guild_id}")


async def changes(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    cur = await conn.execute(sql, params)
    return cur.rowcount


def check_embedding(embedding: Any) -> np.ndarray:
    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 1 or emb.shape[0] == 0:
        raise ValueError(f"embedding must be a non-empty 1-D vector, got shape {emb.shape}")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embedding has non-finite values")
    return emb


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return _clean(asdict(value))
    return value


def to_json(value: Any) -> str:
    return json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def embedding_from_blob(blob: bytes, dim: int) -> np.ndarray:
    emb = np.frombuffer(blob, dtype="<f4").astype(np.float32)  # own, writable copy
    if emb.shape[0] != dim:
        raise StorageError(f"stored embedding has {emb.shape[0]} values, expected {dim}")
    return emb


def analysis_from_row(row: sqlite3.Row) -> AnalysisRecord:
    return AnalysisRecord(
        content_hash=row["content_hash"],
        model_version=row["model_version"],
        embedding=embedding_from_blob(row["embedding"], row["dim"]),
        duration_s=float(row["duration_s"]),
        genres=json.loads(row["genres"]),
        descriptors=json.loads(row["descriptors"]),
        tags=json.loads(row["tags"]),
        timeline=json.loads(row["timeline"]),
        is_music=bool(row["is_music"]),
        extra=json.loads(row["extra"]),
        created_at=to_datetime(row["created_at"]),
    )


def track_from_row(row: sqlite3.Row) -> TrackRecord:
    return TrackRecord(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        content_hash=row["content_hash"],
        title=row["title"],
        source_kind=row["source_kind"],
        source_url=row["source_url"],
        added_by=row["added_by"],
        added_at=to_datetime(row["added_at"]),
        model_version=row["model_version"],
        duration_s=float(row["duration_s"]),
        genres=json.loads(row["genres"]),
        embedding=embedding_from_blob(row["embedding"], row["dim"]),
    )


def party_from_row(row: sqlite3.Row) -> PartyRecord:
    return PartyRecord(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        message_id=row["message_id"],
        host_id=row["host_id"],
        created_at=to_datetime(row["created_at"]),
        ended_at=to_datetime(row["ended_at"]),
    )
