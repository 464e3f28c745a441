"""SQLITE_FULL made real without a small disk: ``PRAGMA max_page_count`` caps the file where it
is, so the next write that needs a page fails exactly as on a full disk (the same error SQLite
turns ENOSPC into). /recommend's playlist survives it; a like says what happened."""

from __future__ import annotations

import sqlite3

import pytest

from bot.discord.app import UNEXPECTED_ERROR_MESSAGE, user_message_for
from bot.service.app import EarwormService
from bot.service.errors import HISTORY_NOT_SAVED
from storage import StorageFull
from tests.fake_discord.seed import seed_catalog
from tests.storage.test_failures import set_max_pages

GUILD, ALICE = 1, 7


async def test_recommend_still_answers_when_its_history_cannot_be_saved(
    earworm_service: EarwormService,
) -> None:
    service = earworm_service
    tracks = await seed_catalog(service, GUILD)
    await service.like(GUILD, ALICE, tracks["vibe_ace"].id)
    await set_max_pages(service.db)
    saved = 0
    for _ in range(2000):  # each playlist is remembered until a page is needed and none is left
        playlist = await service.recommend(GUILD, ALICE, n=3)
        assert playlist.result.picks and len(playlist.tracks) == len(playlist.result.picks)
        if HISTORY_NOT_SAVED in (playlist.result.note or ""):
            break
        saved += len(playlist.result.picks)
    else:
        pytest.fail("the capped database never filled up")
    with sqlite3.connect(service.db.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (rows,) = conn.execute("SELECT COUNT(*) FROM recommendations").fetchone()
    assert rows == saved  # every playlist that said nothing was remembered; the last was not
    assert await service.db.is_liked(GUILD, ALICE, tracks["vibe_ace"].id)


async def test_a_full_database_is_explained_to_the_user(earworm_service: EarwormService) -> None:
    service = earworm_service
    tracks = await seed_catalog(service, GUILD, ["vibe_ace"])
    await set_max_pages(service.db)
    with pytest.raises(StorageFull) as caught:
        for user in range(100_000):
            await service.like(GUILD, user, tracks["vibe_ace"].id)
    message, unexpected = user_message_for(caught.value)
    assert message != UNEXPECTED_ERROR_MESSAGE
    assert message.startswith("The server's disk is full") and unexpected  # the admin is told
