"""Likes: like and unlike a catalog track or the audio a message shares, and a user's likes a
page at a time.

A like is committed before anything acknowledges it. Liking audio that is not in the catalog
yet adds it first (:meth:`Ingest._entry`: one lookup), credited to whoever shared it; joining
work already under way, or finding the entry, costs the liker no admission slot.
"""

from __future__ import annotations

import asyncio

from bot.service.errors import TRACK_GONE, UnknownTrack
from bot.service.ingest import Ingest
from bot.service.results import AudioSource, LikesPage, TrackRecord, page_count
from inference.analysis import content_hash
from storage.records import TrackNotFoundError


class Likes(Ingest):
    async def like(self, guild_id: int, user_id: int, track_id: int) -> bool:
        """Like a catalog track; True if the like is new. The database checks that the track
        exists, in the same write."""
        try:
            return await self.db.like(guild_id, user_id, track_id)
        except TrackNotFoundError:
            raise UnknownTrack(TRACK_GONE) from None

    async def unlike(self, guild_id: int, user_id: int, track_id: int) -> bool:
        """Remove a like; True if there was one."""
        return await self.db.unlike(guild_id, user_id, track_id)

    async def like_source(self, guild_id: int, user_id: int, source: AudioSource, *, requester: int | None = None) -> tuple[TrackRecord, bool]:
        """Like the audio ``source`` shares, adding it to the catalog first if need be (one
        lookup); returns the track and whether the like is new. ``requester`` is admitted only
        if this starts new work (see :meth:`Ingest._entry`)."""
        track = await self._entry(guild_id, source, requester)
        return track, await self.like(guild_id, user_id, track.id)

    async def unlike_source(self, guild_id: int, user_id: int, source: AudioSource) -> tuple[TrackRecord, bool] | None:
        """Remove the like of the audio ``source`` shares (one lookup, nothing downloaded or
        analyzed); returns its track and whether there was a like, or None when the catalog
        has no such entry."""
        track = await self._find_existing(guild_id, source)
        if track is None:
            return None
        return track, await self.unlike(guild_id, user_id, track.id)

    async def _find_existing(self, guild_id: int, source: AudioSource) -> TrackRecord | None:
        if source.kind != "file":
            return await self._find(guild_id, source)
        digest = await asyncio.to_thread(content_hash, source.location)
        return await self.db.find_track_by_content(guild_id, digest)

    async def likes_page(self, guild_id: int, user_id: int, page: int, page_size: int) -> LikesPage:
        """Page ``page`` (from 0; clamped to the last page) of a user's likes, most recent first."""
        total = await self.db.count_likes(guild_id, user_id)
        page = max(0, min(page, page_count(total, page_size) - 1))
        tracks = await self.db.list_likes(guild_id, user_id, offset=page * page_size, limit=page_size)
        return LikesPage(tracks, page, page_size, total)

    async def remove_like(self, guild_id: int, user_id: int, track_id: int, page: int, page_size: int) -> LikesPage:
        """Remove a like, then the page of likes to show in its place."""
        await self.unlike(guild_id, user_id, track_id)
        return await self.likes_page(guild_id, user_id, page, page_size)

