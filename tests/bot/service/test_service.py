"""The application service on real audio, a real SQLite file and real analysis workers."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from bot.service.app import EarwormService
from bot.service.convert import analysis_to_record
from bot.service.errors import NotMusicError, UnknownTrack
from tests.audio_helpers import fixture_path, preload_analyses

GUILD, OTHER_GUILD = 1, 2
MUSIC = ["vibe_ace", "hungarian_dance_5", "sugar_plum_fairy", "lets_go_fishin", "solo_trumpet"]


async def add(service: EarwormService, name: str, guild: int = GUILD, user: int | None = 7):
    path = fixture_path(f"{name}.ogg")
    return await service.add_track(guild, path, title=name, source_kind="file", source_url=str(path), added_by=user)


@pytest.fixture
async def catalog(earworm_service: EarwormService) -> dict[str, int]:
    await preload_analyses(earworm_service.db, [f"{n}.ogg" for n in MUSIC])
    return {name: (await add(earworm_service, name)).track.id for name in MUSIC}


async def test_second_share_reuses_the_analysis(earworm_service: EarwormService) -> None:
    first = await add(earworm_service, "solo_trumpet")
    assert first.created and not first.reused_analysis
    again = await add(earworm_service, "solo_trumpet")
    assert again.reused_analysis and not again.created and again.track.id == first.track.id
    elsewhere = await add(earworm_service, "solo_trumpet", guild=OTHER_GUILD)
    assert elsewhere.reused_analysis and elsewhere.created and elsewhere.track.id != first.track.id
    assert earworm_service.engine.pool.stats().completed == 1  # analyzed once, shared three times


async def test_non_music_is_not_added(earworm_service: EarwormService) -> None:
    with pytest.raises(NotMusicError, match="speech"):
        await add(earworm_service, "not_music_speech")
    assert await earworm_service.db.count_tracks(GUILD) == 0


async def test_a_classical_query_ranks_the_classical_clips_first(earworm_service: EarwormService, catalog: dict[str, int]) -> None:
    similar = (await earworm_service.more_like(GUILD, catalog["sugar_plum_fairy"], k=4))[1]
    assert similar[0][0].title == "hungarian_dance_5"
    assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)


async def test_recommendations_from_likes_explain_and_avoid_repeats(earworm_service: EarwormService, catalog: dict[str, int]) -> None:
    await earworm_service.like(GUILD, 42, catalog["hungarian_dance_5"])
    first = await earworm_service.recommend(GUILD, 42, n=1)
    assert [first.tracks[p.track_id].title for p in first.result.picks] == ["sugar_plum_fairy"]
    assert "hungarian_dance_5" in first.result.picks[0].reason and "classical" in first.result.picks[0].reason
    second = await earworm_service.recommend(GUILD, 42, n=1)
    assert second.result.picks[0].track_id != first.result.picks[0].track_id
    assert catalog["hungarian_dance_5"] not in {p.track_id for p in second.result.picks}


async def test_cold_start_is_a_helpful_answer(earworm_service: EarwormService, catalog: dict[str, int]) -> None:
    playlist = await earworm_service.recommend(GUILD, 99, n=3)
    assert playlist.result.cold_start and "like" in (playlist.result.note or "").lower()
    assert len(playlist.result.picks) == 3
    empty = await earworm_service.recommend(OTHER_GUILD, 99, n=3)
    assert empty.result.picks == [] and empty.result.note


async def test_party_gives_each_member_a_share(earworm_service: EarwormService, catalog: dict[str, int]) -> None:
    likes = {1: ["vibe_ace"], 2: ["hungarian_dance_5"], 3: ["lets_go_fishin"], 4: []}
    for user, names in likes.items():
        for name in names:
            await earworm_service.like(GUILD, user, catalog[name])
    party = await earworm_service.party_playlist(GUILD, list(likes), n=4)
    reports = {m.user_id: m for m in party.result.members}
    assert reports[4].status == "no likes yet" and reports[4].share == 0
    assert all(reports[u].share >= 1 for u in (1, 2, 3))
    assert sum(m.share for m in party.result.members) == len(party.result.picks) == 4


async def test_catalog_cache_follows_adds_and_removes(earworm_service: EarwormService, catalog: dict[str, int]) -> None:
    assert len(await earworm_service.catalog(GUILD)) == len(MUSIC)
    await earworm_service.db.remove_track(GUILD, catalog["solo_trumpet"])
    assert catalog["solo_trumpet"] not in await earworm_service.catalog(GUILD)
    hits = (await earworm_service.more_like(GUILD, catalog["vibe_ace"], k=10))[1]
    assert catalog["solo_trumpet"] not in {t.id for t, _ in hits}
    with pytest.raises(UnknownTrack):
        await earworm_service.like(GUILD, 5, catalog["solo_trumpet"])


async def test_reindex_reanalyses_an_older_model_version(earworm_service: EarwormService, catalog: dict[str, int], tmp_path) -> None:
    stored = await add(earworm_service, "vibe_ace")
    old = replace(stored.analysis, model_version="musicnn-msd-0ld", embedding=np.roll(stored.analysis.embedding, 1))
    await earworm_service.db.put_analysis(analysis_to_record(old))
    assert [s.content_hash for s in await earworm_service.db.stale_analyses(earworm_service.model_version)] == [stored.analysis.content_hash]
    done, problems = await earworm_service.reindex()
    assert (done, problems) == (1, [])
    assert await earworm_service.db.stale_analyses(earworm_service.model_version) == []
    record = await earworm_service.db.get_analysis(stored.analysis.content_hash)
    np.testing.assert_allclose(record.embedding, stored.analysis.embedding, atol=1e-4)


async def test_forget_leaves_nothing_of_the_user(earworm_service: EarwormService, catalog: dict[str, int], tmp_path) -> None:
    await earworm_service.like(GUILD, 7, catalog["vibe_ace"])
    await earworm_service.recommend(GUILD, 7, n=2)
    await earworm_service.forget(7)
    con = sqlite3.connect(tmp_path / "earworm.db")
    try:
        assert con.execute("SELECT COUNT(*) FROM likes WHERE user_id = 7").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM recommendations WHERE user_id = 7").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM tracks WHERE added_by = 7").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == len(MUSIC)
    finally:
        con.close()
