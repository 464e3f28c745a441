"""Recommendations: a playlist from a user's likes, the tracks that sound like one track, and a
party's blended playlist. The numpy work (``inference.recommend``) runs in a thread.

A user's last :data:`RECENT_RECOMMENDATIONS` picks are not repeated while the catalog has other
tracks; the picks are remembered after each playlist (a full disk only costs that memory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from bot.service.core import ServiceCore
from bot.service.errors import HISTORY_NOT_SAVED, TRACK_GONE, UnknownTrack
from bot.service.results import PartyResult, Playlist, TrackRecord
from inference.recommend import (
    Catalog,
    PartyPlaylist,
    Recommendation,
    blend_party,
    order_playlist,
    recommend,
)
from storage.records import StorageFull

log = logging.getLogger(__name__)

RECENT_RECOMMENDATIONS = 50  # a user's last N recommendations are not repeated


class Recommendations(ServiceCore):
    async def catalog(self, guild_id: int) -> Catalog:
        """The guild's recommendation catalog (cached; see :mod:`bot.service.catalog_cache`)."""
        return await self.catalogs.get(guild_id)

    async def recommend(self, guild_id: int, user_id: int, n: int = 10) -> Playlist:
        catalog = await self.catalog(guild_id)
        liked = sorted(await self.db.liked_track_ids(guild_id, user_id))
        recent = await self.db.recent_recommendations(guild_id, user_id, limit=RECENT_RECOMMENDATIONS)
        popular = await self._popular(guild_id, n)
        result = await asyncio.to_thread(_recommend_ordered, liked, catalog, n, recent, popular)
        if not result.picks and recent and liked:
            # Everything close was recommended lately: allow repeats rather than say nothing.
            result = await asyncio.to_thread(_recommend_ordered, liked, catalog, n, [], popular)
        try:
            await self.db.record_recommendations(guild_id, user_id, [p.track_id for p in result.picks])
        except StorageFull as exc:  # the playlist is still worth having; say what was not saved
            log.error("recommendation history not saved: %s", exc)
            result = replace(result, note=f"{result.note} {HISTORY_NOT_SAVED}" if result.note else HISTORY_NOT_SAVED)
        return Playlist(result, await self._tracks(guild_id, [p.track_id for p in result.picks]))

    async def party_playlist(self, guild_id: int, member_ids: Iterable[int], n: int = 15) -> PartyResult:
        """One playlist fair to every member (their likes blended; see ``blend_party``)."""
        catalog = await self.catalog(guild_id)
        members = {uid: sorted(await self.db.liked_track_ids(guild_id, uid)) for uid in member_ids}
        popular = await self._popular(guild_id, n)

        def blend() -> PartyPlaylist:
            party = blend_party(members, catalog, n, popular_ids=popular, include_liked=True)
            return PartyPlaylist(order_playlist(party.picks, catalog), party.members, party.note, party.cold_start)

        result = await asyncio.to_thread(blend)
        return PartyResult(result, await self._tracks(guild_id, [p.track_id for p in result.picks]))

    async def more_like(self, guild_id: int, track_id: int, k: int = 5) -> tuple[TrackRecord, list[tuple[TrackRecord, float]]]:
        """A catalog track and the ``k`` tracks that sound most like it (cosine), itself
        excluded, nearest first. Raises UnknownTrack if the track is gone."""
        track = await self.db.get_track(guild_id, track_id)
        if track is None:
            raise UnknownTrack(TRACK_GONE)
        if track.model_version != self.model_version:
            return track, []  # not re-analyzed with this model yet: its embedding compares with nothing
        hits = await self.index.search(guild_id, track.embedding, k, exclude_ids=[track_id])
        tracks = await self._tracks(guild_id, [tid for tid, _ in hits])
        return track, [(tracks[tid], score) for tid, score in hits if tid in tracks]

    async def _popular(self, guild_id: int, n: int) -> list[int]:
        return [t.id for t, _ in await self.db.popular_tracks(guild_id, n=max(n, 10))]

    async def _tracks(self, guild_id: int, ids: list[int]) -> dict[int, TrackRecord]:
        return {t.id: t for t in await self.db.get_tracks(guild_id, ids)}


def _recommend_ordered(liked: list[int], catalog: Catalog, n: int, recent: Iterable[int], popular: list[int]) -> Recommendation:
    rec = recommend(liked, catalog, n, exclude=recent, popular_ids=popular)
    return Recommendation(order_playlist(rec.picks, catalog), rec.note, rec.profile, rec.cold_start)
