"""``reindex`` moves a catalog made by an older model (another embedding size) to this one:
from files and re-fetched links, losing no like, party or history, while the service keeps
answering; nothing of two models is ever compared."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import numpy as np

from bot.service.app import EarwormService
from bot.service.convert import analysis_to_record
from tests.audio_helpers import fixture_analysis, fixture_path
from tests.httpserver import http_server_fixture

GUILD = 1
OLD_VERSION = "musicnn-msd-0ld"
http_server = http_server_fixture(fixture_path("vibe_ace.ogg").parent)


def old_analysis(name: str, seed: int):
    """The fixture's analysis as the previous model stored it: 200-d embedding, old version."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal(200).astype(np.float32)
    return replace(fixture_analysis(f"{name}.ogg"), model_version=OLD_VERSION, embedding=emb / np.linalg.norm(emb))


def rows(db_path) -> dict[str, set]:
    """Every row of the tables a reindex must not touch."""
    con = sqlite3.connect(db_path)
    try:
        return {t: set(con.execute(f"SELECT * FROM {t}").fetchall()) for t in ("tracks", "likes", "parties", "party_members", "recommendations")}
    finally:
        con.close()


async def test_reindex_moves_the_catalog_and_the_service_keeps_answering(earworm_service: EarwormService, http_server, tmp_path) -> None:
    db = earworm_service.db
    ids: dict[str, int] = {}
    sources = {
        "sugar_plum_fairy": ("file", str(fixture_path("sugar_plum_fairy.ogg"))),
        "hungarian_dance_5": ("file", str(fixture_path("hungarian_dance_5.ogg"))),
        "lets_go_fishin": ("file", str(fixture_path("lets_go_fishin.ogg"))),
        "vibe_ace": ("link", http_server.url("vibe_ace.ogg")),
        "solo_trumpet": ("attachment", "https://discord.com/channels/1/2/3"),  # cannot be re-read
    }
    for seed, (name, (kind, url)) in enumerate(sources.items()):
        await db.put_analysis(analysis_to_record(old_analysis(name, seed)))
        track, _ = await db.add_track(GUILD, fixture_analysis(f"{name}.ogg").content_hash, name, kind, url, 7)
        ids[name] = track.id
    for user, name in ((7, "sugar_plum_fairy"), (8, "vibe_ace"), (8, "solo_trumpet")):
        await earworm_service.like(GUILD, user, ids[name])
    party = await db.start_party(GUILD, 55, 7)
    await db.join(party.id, 8)
    await db.record_recommendations(GUILD, 7, [ids["lets_go_fishin"]])
    before = rows(tmp_path / "earworm.db")
    assert len(await earworm_service.catalog(GUILD)) == 0  # all of another model: none comparable yet

    answered: list[int] = []

    async def keep_asking(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await earworm_service.more_like(GUILD, ids["sugar_plum_fairy"], k=3)
            await earworm_service.recommend(GUILD, 7, n=2)
            answered.append(1)
            await asyncio.sleep(0.01)

    notes: list[tuple[int, int, str]] = []
    stop = asyncio.Event()
    asker = asyncio.create_task(keep_asking(stop))
    done, problems = await earworm_service.reindex(lambda i, n, note: notes.append((i, n, note)))
    stop.set()
    await asker  # raises if any answer failed (e.g. embeddings of two sizes in one search)

    assert done == 4 and len(problems) == 1 and "moves when shared again" in problems[0]
    assert [(i, n) for i, n, _ in notes] == [(i, 5) for i in range(1, 6)]
    assert len(answered) >= 2  # it kept answering while the tracks were re-analyzed
    after = rows(tmp_path / "earworm.db")
    for table, old in before.items():  # nothing lost or changed (the asker added recommendations)
        assert old <= after[table], table
    assert {t: len(r) for t, r in after.items() if t != "recommendations"} == {t: len(r) for t, r in before.items() if t != "recommendations"}
    assert await db.liked_track_ids(GUILD, 8) == {ids["vibe_ace"], ids["solo_trumpet"]}
    stale = await db.stale_analyses(earworm_service.model_version)
    assert [s.content_hash for s in stale] == [fixture_analysis("solo_trumpet.ogg").content_hash]
    link = await db.get_analysis(fixture_analysis("vibe_ace.ogg").content_hash)
    assert link.model_version == earworm_service.model_version  # re-fetched over HTTP
    assert any("vibe_ace.ogg" in r.path for r in http_server.requests)
    similar = (await earworm_service.more_like(GUILD, ids["sugar_plum_fairy"], k=10))[1]
    assert {t.title for t, _ in similar} == {"hungarian_dance_5", "lets_go_fishin", "vibe_ace"}
    assert similar[0][0].title == "hungarian_dance_5"
    assert all(t.embedding.shape == similar[0][0].embedding.shape for t, _ in similar)


async def test_reindex_reports_a_changed_file_and_keeps_its_entry(earworm_service: EarwormService, tmp_path) -> None:
    path = tmp_path / "song.ogg"
    path.write_bytes(fixture_path("solo_trumpet.ogg").read_bytes())
    await earworm_service.db.put_analysis(analysis_to_record(old_analysis("solo_trumpet", 1)))
    await earworm_service.db.add_track(GUILD, fixture_analysis("solo_trumpet.ogg").content_hash, "t", "file", str(path), 7)
    path.write_bytes(fixture_path("vibe_ace.ogg").read_bytes())  # other audio at the same path
    done, problems = await earworm_service.reindex()
    assert done == 0 and problems == [f"{path}: the file changed since it was indexed"]
    assert await earworm_service.db.count_tracks(GUILD) == 1


def test_reindex_cli_draws_a_progress_bar(tmp_path, capfd) -> None:
    """``earworm reindex`` on a database with one old analysis: a bar on stderr, a summary."""
    from bot.cli import main

    async def seed() -> None:
        from storage.db import Database

        async with await Database.open(tmp_path / "e.db") as db:
            await db.put_analysis(analysis_to_record(old_analysis("solo_trumpet", 3)))
            await db.add_track(GUILD, fixture_analysis("solo_trumpet.ogg").content_hash, "t", "file", str(fixture_path("solo_trumpet.ogg")), 7)

    asyncio.run(seed())
    assert main(["reindex", "--db", str(tmp_path / "e.db")]) == 0
    out, err = capfd.readouterr()
    assert "re-analyzed 1 track(s)" in out and "reindex [" in err and "1/1" in err


async def test_a_track_not_yet_reindexed_has_no_neighbours_rather_than_an_error(earworm_service: EarwormService) -> None:
    """Mid-reindex, "More like this" on a track the new model has not reached yet compares with
    nothing (its embedding is of the old model), instead of failing on two embedding sizes."""
    db = earworm_service.db
    await db.put_analysis(analysis_to_record(old_analysis("solo_trumpet", 1)))
    old, _ = await db.add_track(GUILD, fixture_analysis("solo_trumpet.ogg").content_hash, "old", "file", None, 7)
    for name in ("hungarian_dance_5", "sugar_plum_fairy"):  # already re-analyzed
        await db.put_analysis(analysis_to_record(fixture_analysis(f"{name}.ogg")))
        await db.add_track(GUILD, fixture_analysis(f"{name}.ogg").content_hash, name, "file", None, 7)
    assert (await earworm_service.more_like(GUILD, old.id, k=3))[1] == []
