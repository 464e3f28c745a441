"""The README's workflow: the bot serves while ``earworm index DIR --guild G`` adds tracks to the
same database from another process. /recommend (and "More like this"'s index) must see them:
the caches notice other processes' commits (SQLite's data_version) before serving."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys

import numpy as np

from storage import AnalysisRecord, Database, IndexCache
from tests.bot.subprocesses import REPO, bot_command, run
from tests.bot.test_e2e_recommend import picks_of
from tests.fake_discord import FakeDiscord
from tests.fake_discord.seed import seed_catalog
from tests.storage.conftest import unit

FIXTURES = REPO / "tests" / "fixtures"


async def earworm(*args: str) -> tuple[int, str, str]:
    return await run(bot_command(*args), timeout=240)


async def test_recommend_sees_tracks_that_earworm_index_adds_meanwhile(
    fake_discord, running_bot, earworm_service, tmp_path
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    alice = fake.user("alice")
    tracks = await seed_catalog(earworm_service, guild.id, ["vibe_ace", "solo_trumpet"])
    await earworm_service.like(guild.id, alice.id, tracks["vibe_ace"].id)
    await running_bot(earworm_service)

    ix = await fake.slash(alice, guild, "music", "recommend", options={"count": 5})
    first = picks_of(await fake.wait_for_original(ix, timeout=30))
    assert [p["title"] for p in first] == ["Solo Trumpet"]  # all the catalog has

    # Another process indexes a folder into the same database while the bot runs.
    music = tmp_path / "music"
    music.mkdir()
    added = ["hungarian_dance_5", "sugar_plum_fairy", "lets_go_fishin"]
    for name in added:
        shutil.copy(FIXTURES / f"{name}.ogg", music)
    db_path = earworm_service.db.path
    code, out, err = await earworm(
        "index", str(music), "--guild", str(guild.id), "--db", db_path, "--workers", "1"
    )
    assert code == 0 and "3 added" in out, err

    ix = await fake.slash(alice, guild, "music", "recommend", options={"count": 5})
    second = await fake.wait_for_original(ix, timeout=30)
    description = second["embeds"][0]["description"]
    # Files on the indexer's disk are not links: the picks are the bold, numbered titles.
    picked = re.findall(r"^\*\*\d+\.\*\* \*\*(.+?)\*\*", description, re.M)
    assert sorted(t.replace("\\_", "_") for t in picked) == sorted(added)  # new, not repeats
    assert "Only 3 new tracks" in description  # not "Only 1 new track", the stale catalog


async def test_the_vector_index_notices_another_process(tmp_path):
    """IndexCache (nearest neighbours for "More like this") against a second process's writes."""
    path = tmp_path / "shared.db"
    rng = np.random.default_rng(1)
    async with Database.open(path) as db:
        rec = await db.put_analysis(AnalysisRecord("a" * 64, "m1", unit(rng, 16), 30.0))
        mine, _ = await db.add_track(1, rec.content_hash, "mine", "file", "/m/a.ogg", 1)
        cache = IndexCache(db, model_version="m1")
        assert [t for t, _ in await cache.search(1, unit(rng, 16), k=5)] == [mine.id]

        script = (
            "import asyncio, sys, numpy as np\n"
            "from storage import AnalysisRecord, Database\n"
            "async def main():\n"
            "    async with Database.open(sys.argv[1]) as db:\n"
            "        v = np.ones(16, np.float32) / 4\n"
            "        rec = await db.put_analysis(AnalysisRecord('b' * 64, 'm1', v, 30.0))\n"
            "        t, _ = await db.add_track(1, rec.content_hash, 'theirs', 'file', '/b', 2)\n"
            "        print(t.id)\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, str(path), cwd=REPO, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        theirs = int(out)

        hits = await cache.search(1, np.ones(16, np.float32), k=5)
        assert [t for t, _ in hits] == [theirs, mine.id]
        cache.close()
