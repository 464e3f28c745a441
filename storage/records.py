"""Plain records that the storage layer reads and writes, its errors, and its change events.

Nothing here knows about Discord or the models: ids are ints, embeddings are numpy arrays,
timestamps are timezone-aware UTC datetimes. The bot layer converts to and from
``inference.result.Analysis``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

SourceKind = Literal["link", "attachment", "file"]
SOURCE_KINDS: frozenset[str] = frozenset({"link", "attachment", "file"})


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def to_timestamp(dt: datetime) -> float:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware datetime (UTC)")
    return dt.timestamp()


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True, eq=False)
class AnalysisRecord:
    """The stored analysis of one audio content. ``embedding``: [D] float32, unit norm."""

    content_hash: str
    model_version: str
    embedding: np.ndarray
    duration_s: float
    genres: dict[str, float] = field(default_factory=dict)
    descriptors: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    timeline: list[Any] = field(default_factory=list)
    is_music: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (coverage...)
    created_at: datetime | None = None  # set by the database

    @property
    def dim(self) -> int:
        return int(self.embedding.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class TrackRecord:
    """One entry of a guild's catalog, joined with its analysis' summary and embedding."""

    id: int
    guild_id: int
    content_hash: str
    title: str
    source_kind: SourceKind
    source_url: str | None
    added_by: int | None
    added_at: datetime
    model_version: str
    duration_s: float
    genres: dict[str, float]
    embedding: np.ndarray  # [D] float32

    @property
    def top_genre(self) -> str | None:
        return max(self.genres, key=self.genres.__getitem__) if self.genres else None


@dataclass(frozen=True, slots=True)
class PartyRecord:
    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    host_id: int | None
    created_at: datetime
    ended_at: datetime | None

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class PartyMember:
    user_id: int
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class TrackSource:
    """Where a catalog entry's audio came from (for re-fetching during a reindex)."""

    guild_id: int
    track_id: int
    source_kind: SourceKind
    source_url: str | None


@dataclass(frozen=True, slots=True)
class StaleAnalysis:
    content_hash: str
    model_version: str
    sources: tuple[TrackSource, ...]  # empty when no catalog entry uses it


@dataclass(frozen=True, slots=True)
class CatalogStats:
    guild_id: int
    track_count: int
    music_track_count: int
    total_duration_s: float
    like_count: int
    contributor_count: int  # distinct users who added tracks (forgotten users not counted)
    genre_mix: dict[str, float]  # mean genre share over the music tracks, sorted, sums to 1


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """How many rows ``forget_user`` removed or unlinked, per table."""

    likes: int
    party_memberships: int
    recommendations: int
    tracks_unlinked: int
    parties_unhosted: int

    @property
    def total(self) -> int:
        return (
            self.likes
            + self.party_memberships
            + self.recommendations
            + self.tracks_unlinked
            + self.parties_unhosted
        )


# --------------------------------------------------------------------------------------------
# Change events (emitted after the transaction commits; see Database.subscribe)


@dataclass(frozen=True, slots=True, eq=False)
class TrackAdded:
    guild_id: int
    track_id: int
    model_version: str
    embedding: np.ndarray


@dataclass(frozen=True, slots=True)
class TrackRemoved:
    guild_id: int
    track_id: int


@dataclass(frozen=True, slots=True, eq=False)
class AnalysisReplaced:
    """An analysis was re-done (new model): every listed catalog entry has a new embedding."""

    content_hash: str
    model_version: str
    embedding: np.ndarray
    tracks: tuple[tuple[int, int], ...]  # (guild_id, track_id)


@dataclass(frozen=True, slots=True)
class ExternalChange:
    """Another process (or connection) committed to the database: anything may have changed,
    so caches built from it must be rebuilt. Noticed through ``PRAGMA data_version``."""

    data_version: int


StorageEvent = TrackAdded | TrackRemoved | AnalysisReplaced | ExternalChange


def event_guilds(event: TrackAdded | TrackRemoved | AnalysisReplaced) -> frozenset[int]:
    """The guilds whose catalog ``event`` changes. An ``ExternalChange`` may have changed any:
    callers handle it before asking."""
    if isinstance(event, AnalysisReplaced):
        return frozenset(guild for guild, _track in event.tracks)
    return frozenset({event.guild_id})


# --------------------------------------------------------------------------------------------
# Errors


class StorageError(Exception):
    """Base class of the storage layer's own errors."""


class DatabaseUnavailable(StorageError):
    """The database file cannot be opened, read or written (a missing folder, permissions, an
    I/O error, a lock held too long). The message says what is wrong and what to do."""


class DatabaseCorrupt(DatabaseUnavailable):
    """The file is damaged, or is not an SQLite database at all."""


class DatabaseReadOnly(DatabaseUnavailable):
    """The file, its folder or its file system does not allow writing."""


class StorageFull(DatabaseUnavailable):
    """The disk (or the database's size limit) is full; the failed write was rolled back and
    everything committed before it is intact."""


class MigrationError(StorageError):
    """The migrations on disk or in the database are inconsistent, or one failed to apply."""


class SchemaTooNewError(MigrationError):
    """The database was migrated by a newer version of Earworm than this one."""


class NotFoundError(StorageError, LookupError):
    pass


class UnknownAnalysisError(NotFoundError):
    """add_track for audio that has no stored analysis: put_analysis first."""


class TrackNotFoundError(NotFoundError):
    """No such track in this guild (it may exist in another guild: that does not count)."""


class PartyNotFoundError(NotFoundError):
    """No such party, or it has ended."""


class PartyExistsError(StorageError):
    """The channel already has an active party."""

    def __init__(self, party: PartyRecord) -> None:
        super().__init__(f"channel {party.channel_id} already has an active party (id {party.id})")
        self.party = party
