"""Fill a real :class:`~bot.service.EarwormService`'s catalog with the fixture tracks, fast.

The first call in a test session analyses each fixture with the service's real workers (in
parallel); later calls store those analyses in the new database first, so ``add_track`` reuses
them instead of analysing again (the service does the same for audio it has seen before).

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
