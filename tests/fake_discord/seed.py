"""Fill a real :class:`~bot.service.EarwormService`'s catalog with the fixture tracks, fast.

The first call in a test session analyses each fixture with the service's real workers (in
parallel); later calls store those analyses in the new database first, so ``add_track`` reuses
them instead of analyzing again (the service does the same for audio it has seen before).

    tracks = await seed_catalog(earworm_service, guild_id, added_by=alice.id)
    tracks["vibe_ace"].id, tracks["vibe_ace"].source_url   # https://example.com/vibe_ace
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: The music fixtures: name -> (title, top genre the models give it).
FIXTURE_TRACKS: dict[str, tuple[str, str]] = {
    "vibe_ace": ("Vibe Ace", "jazz"),
    "hungarian_dance_5": ("Hungarian Dance No. 5", "classical"),
    "sugar_plum_fairy": ("Dance of the Sugar Plum Fairy", "classical"),
    "lets_go_fishin": ("Let's Go Fishin'", "folk"),
    "solo_trumpet": ("Solo Trumpet", "jazz"),
}

_analyses: dict[str, Any] = {}  # fixture name -> AnalysisRecord, for the whole session


def source_url(name: str) -> str:
    """A distinct link per track (one 'source' each, so the per-source cap never bites)."""
    return f"https://example.com/{name}"


async def seed_catalog(
    service: Any,
    guild_id: int,
    names: Sequence[str] = tuple(FIXTURE_TRACKS),
    *,
    added_by: int | None = None,
) -> dict[str, Any]:
    """Add the named fixtures to ``guild_id``'s catalog; returns ``{name: TrackRecord}``."""
    for name in names:
        if name in _analyses:
            await service.db.put_analysis(_analyses[name])

    async def add(name: str) -> Any:
        stored = await service.add_track(
            guild_id,
            FIXTURES / f"{name}.ogg",
            title=FIXTURE_TRACKS[name][0],
            source_kind="link",
            source_url=source_url(name),
            added_by=added_by,
        )
        if name not in _analyses:
            _analyses[name] = await service.db.get_analysis(stored.track.content_hash)
        return stored

    stored = await asyncio.gather(*(add(n) for n in names))
    # Ids in the order asked for, whatever order the workers finished in.
    return {name: s.track for name, s in zip(names, stored, strict=True)}


def track_record(i: int, title: str, url: str | None, *, guild_id: int = 1) -> Any:
    """A catalog entry made up for formatting tests (no database, no audio): track ``i``, a
    jazz track of 3:20 with ``title`` and ``url`` as its source."""
    from datetime import UTC, datetime

    import numpy as np

    from storage.records import TrackRecord

    return TrackRecord(
        id=i,
        guild_id=guild_id,
        content_hash=f"h{i}",
        title=title,
        source_kind="link",
        source_url=url,
        added_by=None,
        added_at=datetime.now(UTC),
        model_version="m",
        duration_s=200.0,
        genres={"jazz": 0.9},
        embedding=np.zeros(4, np.float32),
    )
