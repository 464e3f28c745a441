"""``earworm demo``: the offline main job on built-in defaults.

Indexes the bundled free clips into a demo database, shows one analysis (and writes its genre
timeline picture), then a playlist for a listener with two interests and a party blend for three.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.index import index_folder
from bot.cli.text import analysis_text, party_text, playlist_text

#: The free clips shipped with the package (licences in LICENSES.md beside them); the tests read
#: them too, through the tests/fixtures link.
BUNDLED = Path(__file__).resolve().parent / "demo_clips"
GUILD = 1
# Three listeners: Ada likes jazz and classical, Ben the folk song, Cy the Tchaikovsky.
LISTENERS = {42: ("Ada", ["vibe_ace", "hungarian_dance_5"]), 43: ("Ben", ["lets_go_fishin"]), 44: ("Cy", ["sugar_plum_fairy"])}


def _heading(text: str) -> None:
    print(f"\n=== {text} ===")


async def run_demo(args: argparse.Namespace, service) -> int:
    _heading(f"1. Indexing the bundled clips ({BUNDLED}) into {args.db}")
    counts = await index_folder(service, BUNDLED, GUILD, user=None)
    print(f"{counts['added']} added, {counts['already']} already there, {counts['not_music']} not music (speech, bird call), {counts['failed']} failed")

    _heading("2. One analysis: vibe_ace.ogg")
    stored = await service.add_track(GUILD, BUNDLED / "vibe_ace.ogg", title="vibe_ace", source_kind="file", source_url=str(BUNDLED / "vibe_ace.ogg"), added_by=None)
    print(analysis_text(stored.analysis, color=sys.stdout.isatty()))
    chart = Path(args.db).with_name("demo-vibe_ace-genres.png")
    from bot.present.chart import genre_timeline_png

    chart.write_bytes(genre_timeline_png(stored.analysis))
    print(f"(genre timeline picture: {chart})")

    tracks = {t.title: t for t in await service.list_tracks(GUILD)}
    for user, (_name, titles) in LISTENERS.items():
        for title in titles:
            await service.like(GUILD, user, tracks[title].id)

    _heading("3. A playlist for Ada (likes jazz and classical)")
    print(playlist_text(await service.recommend(GUILD, 42, n=5)))

    _heading("4. A listening party: Ada, Ben and Cy")
    names = {u: name for u, (name, _) in LISTENERS.items()}
    print(party_text(await service.party_playlist(GUILD, list(LISTENERS), n=5), names))
    print("\nNext: `earworm analyze your-song.mp3`, `earworm index ~/Music --guild 1`, or run the Discord bot (README).")
    return 0
