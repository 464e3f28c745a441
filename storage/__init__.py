"""Storage: one SQLite database (aiosqlite) and per-guild vector indexes.

Imports neither ``bot`` nor ``inference``: it stores plain records and numpy arrays.
"""

from storage.db import Database
from storage.records import (
    AnalysisRecord,
    AnalysisReplaced,
    CatalogStats,
    ForgetReport,
    MigrationError,
    NotFoundError,
    PartyExistsError,
    PartyMember,
    PartyNotFoundError,
    PartyRecord,
    SchemaTooNewError,
    StaleAnalysis,
    StorageError,
    StorageEvent,
    TrackAdded,
    TrackNotFoundError,
    TrackRecord,
    TrackRemoved,
    TrackSource,
    UnknownAnalysisError,
)
from storage.vectors import AnnParams, IndexCache, VectorIndex

__all__ = [
    "AnalysisRecord",
    "AnalysisReplaced",
    "AnnParams",
    "CatalogStats",
    "Database",
    "ForgetReport",
    "IndexCache",
    "MigrationError",
    "NotFoundError",
    "PartyExistsError",
    "PartyMember",
    "PartyNotFoundError",
    "PartyRecord",
    "SchemaTooNewError",
    "StaleAnalysis",
    "StorageError",
    "StorageEvent",
    "TrackAdded",
    "TrackNotFoundError",
    "TrackRecord",
    "TrackRemoved",
    "TrackSource",
    "UnknownAnalysisError",
    "VectorIndex",
]
