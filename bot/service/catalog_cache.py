"""Each guild's recommendation catalog (:class:`inference.recommend.Catalog`), built from the
database on first use and kept until a track is added, removed or re-analyzed, here or by
another process (the database's change events say so; another process's writes are noticed
with one cheap PRAGMA before each use)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from inference.recommend import Catalog, TrackFeatures
from storage.db import Database
from storage.records import ExternalChange, StorageEvent, TrackRecord, event_guilds


class CatalogCache:
    def __init__(self, db: Database, model_version: str) -> None:
        self._db = db
        self._model_version = model_version
        self._catalogs: dict[int, Catalog] = {}
        self._changes = 0  # storage events seen: a catalog built across one is not kept
        self._locks: dict[int, asyncio.Lock] = {}
        self._unsubscribe = db.subscribe(self._on_storage_event)

    def close(self) -> None:
        self._unsubscribe()

    async def get(self, guild_id: int) -> Catalog:
        """The guild's catalog: the tracks analyzed by this model, with their descriptors."""
        await self._db.notice_external_writes()
        lock = self._locks.setdefault(guild_id, asyncio.Lock())
        async with lock:
            cached = self._catalogs.get(guild_id)
            if cached is not None:
                return cached
            changes = self._changes
            tracks = await self._db.list_tracks(guild_id)
            descriptors = await self._db.track_descriptors(guild_id)
            features = [_features(t, descriptors.get(t.id, {})) for t in tracks if t.model_version == self._model_version]
            catalog = await asyncio.to_thread(Catalog, features)
            if changes == self._changes:  # else a change landed meanwhile: build anew next time
                self._catalogs[guild_id] = catalog
            return catalog

    def _on_storage_event(self, event: StorageEvent) -> None:
        self._changes += 1
        if isinstance(event, ExternalChange):  # another process wrote: any catalog may be stale
            self._catalogs.clear()
            return
        for guild in event_guilds(event):
            self._catalogs.pop(guild, None)


def source_group(track: TrackRecord) -> str:
    """Which picks count as 'one source' for the diversity cap: a link's site + path head, an
    attachment's channel, a file's folder."""
    url = track.source_url or ""
    if track.source_kind == "link":
        parts = urlsplit(url)
        return f"{parts.hostname}/{parts.path.strip('/').split('/')[0]}"
    if track.source_kind == "attachment":
        return url.rsplit("/", 1)[0]
    return str(Path(url).parent) if url else f"user:{track.added_by}"


def _features(track: TrackRecord, descriptors: dict) -> TrackFeatures:
    return TrackFeatures(
        track_id=track.id,
        embedding=track.embedding,
        genres=track.genres,
        tempo_bpm=descriptors.get("tempo_bpm"),
        key=descriptors.get("key"),
        mode=descriptors.get("mode"),
        title=track.title,
        source=source_group(track),
        key_confidence=float(descriptors.get("key_confidence", 1.0)),
    )
