"""What front ends hand the service and what they get back.

The catalog's own records (:class:`TrackRecord`, :class:`PartyRecord`, ...) are re-exported here:
front ends read them from the service, never from ``storage``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.records import CatalogStats, ForgetReport, PartyRecord, SourceKind, TrackRecord

if TYPE_CHECKING:
    from inference.recommend import PartyPlaylist, Recommendation
    from inference.result import Analysis

__all__ = [
    "AudioSource",
    "CatalogStats",
    "ForgetReport",
    "LikesPage",
    "PartyRecord",
    "PartyResult",
    "PartyState",
    "Playlist",
    "ProgressCallback",
    "ProgressEvent",
    "Ready",
    "Stored",
    "TrackRecord",
]


@dataclass(frozen=True)
class AudioSource:
    """Audio for a guild's catalog, as a front end found it.

    ``location`` is where the audio is read from: an attachment's download URL (read it with
    ``read()``), a link, or a file path. ``source_url`` is what the catalog records as the
    track's source and finds it by: the message an attachment was shared in, the link itself,
    or the file's path (files are found by their content, not their path). ``shared_by`` is who
    the catalog credits with the track: who shared it, not who asked for it.
    """

    kind: SourceKind  # "attachment" | "link" | "file"
    title: str
    location: str
    source_url: str | None
    shared_by: int | None
    read: Callable[[], Awaitable[bytes]] | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """How far an ingest or an import has got: ``stage`` is "resolving" (reading a link's page),
    "downloading" (``fraction`` of entry ``item`` of ``items``, when known), "checking" or
    "analyzing"."""

    stage: str
    fraction: float | None = None
    item: int | None = None
    items: int | None = None


#: Called on the event loop with each :class:`ProgressEvent`.
ProgressCallback = Callable[[ProgressEvent], None]
#: A front end's acknowledgement, awaited once a request is admitted and before the slow part
#: (Discord: the defer, which must come within 3 s): refusals come before it, as the answer.
#: It may return where the answer will be shown (a URL), for a source that has none yet.
Ready = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Stored:
    """A track in a guild's catalog and its analysis."""

    track: TrackRecord
    analysis: Analysis
    created: bool  # a new catalog entry (False: this guild already had this audio)
    reused_analysis: bool  # the analysis came from the database, not a new run


@dataclass(frozen=True)
class Playlist:
    """Recommendations with the catalog entries they point at, in listening order."""

    result: Recommendation
    tracks: dict[int, TrackRecord]


@dataclass(frozen=True)
class PartyResult:
    result: PartyPlaylist
    tracks: dict[int, TrackRecord]


@dataclass(frozen=True)
class PartyState:
    """A party and its members (user ids, in the order they joined)."""

    party: PartyRecord
    members: list[int]


def page_count(total: int, page_size: int) -> int:
    """How many pages of ``page_size`` hold ``total`` entries (at least one, shown empty)."""
    return max(1, -(-total // page_size))


@dataclass(frozen=True)
class LikesPage:
    """One page of a user's likes: ``tracks`` are entries ``start + 1`` onwards of ``total``."""

    tracks: list[TrackRecord]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    @property
    def start(self) -> int:
        return self.page * self.page_size
