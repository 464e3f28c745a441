"""``earworm run`` as a real subprocess against the fake Discord: login, command sync, a
``/classify`` round trip, the health check, SIGTERM (clean exit, database closed cleanly), and
bad settings."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from PIL import Image

from bot.cli.run import HEALTH_MAX_AGE_S, check_health
from bot.config import Settings
from tests.bot.subprocesses import REPO, bot_command, clean_env, run, running
from tests.fake_discord import FakeDiscord

FIXTURES = REPO / "tests" / "fixtures"
CONSOLE_SCRIPT = Path(sys.executable).parent / "earworm"


def earworm_command(*args: str) -> list[str]:
    """The installed ``earworm`` console script (``python -m bot`` if it is not installed)."""
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT), *args]
    return bot_command(*args)


async def test_earworm_run_serves_classify_and_stops_cleanly_on_sigterm(fake_discord, tmp_path):
    fake: FakeDiscord = fake_discord
    db_path = tmp_path / "data" / "earworm.db"
    heartbeat = Path(f"{db_path}.heartbeat")
    env = clean_env(
        DISCORD_TOKEN="fake-token",
        EARWORM_API_BASE_URL=fake.api_base,
        EARWORM_GATEWAY_URL=fake.gateway_url,
        EARWORM_DATABASE_PATH=str(db_path),
        EARWORM_WORKERS="1",
    )
    async with running(earworm_command("run"), env, tmp_path) as proc:
        await fake.wait_ready(timeout=60)
        names = {c["name"] for c in fake.commands()}
        assert {"classify", "likes", "Analyze with Earworm"} <= names

        # Ready and connected: the heartbeat appears and the health check passes.
        await fake.wait_for(heartbeat.exists, 30, "the heartbeat file")
        code, out, _ = await run(earworm_command("run", "--health"), env, tmp_path)
        assert code == 0 and out.startswith("ok")

        att = fake.register_attachment("vibe_ace.ogg", (FIXTURES / "vibe_ace.ogg").read_bytes())
        ix = await fake.slash("alice", None, "music", "classify", options={"file": att})
        response = await fake.wait_for_response(ix, timeout=10)
        assert response["type"] == 5 and response["at"] < 3.0
        result = await fake.wait_for_original(ix, lambda m: bool(m["embeds"]), timeout=60)
        assert "**jazz**" in result["embeds"][0]["description"]
        Image.open(io.BytesIO(result["attachments"][0]["data"])).verify()

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        took = time.monotonic() - t0
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert took < 10, f"shutdown took {took:.1f} s"
    assert "Received SIGTERM" in log and "pool closed" in log
    assert "Traceback" not in log and " ERROR " not in log, log
    assert log.count("Logged in as") == 1  # one log handler: no line printed twice

    # The database was closed cleanly: intact, WAL checkpointed away, the track stored.
    assert not Path(f"{db_path}-wal").exists()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ((count,),) = conn.execute("SELECT COUNT(*) FROM tracks").fetchall()
    assert count == 1
    # Not running any more: no heartbeat, unhealthy.
    assert not heartbeat.exists()
    code, _, err = await run(earworm_command("run", "--health"), env, tmp_path)
    assert code == 1 and "no heartbeat" in err


async def test_earworm_run_with_a_bad_setting_exits_2(tmp_path):
    env = clean_env(DISCORD_TOKEN="fake-token", EARWORM_WORKERS="abc")
    code, _, err = await run(earworm_command("run"), env, tmp_path)
    assert code == 2
    assert "EARWORM_WORKERS: must be a whole number from 1 to 64, got 'abc'" in err
    assert "Traceback" not in err


async def test_earworm_run_check_validates_and_masks_the_token(tmp_path):
    env = clean_env(DISCORD_TOKEN="very-secret", EARWORM_WORKERS="3")
    code, out, _ = await run(earworm_command("run", "--check"), env, tmp_path)
    assert code == 0 and "very-secret" not in out
    assert "<set, hidden>" in out and "EARWORM_WORKERS" in out
    code, _, err = await run(earworm_command("run", "--check"), clean_env(), tmp_path)
    assert code == 2 and "DISCORD_TOKEN" in err


def test_health_check_reads_the_heartbeat_age(tmp_path):
    settings = Settings(database_path=tmp_path / "earworm.db")
    assert settings.heartbeat_path == tmp_path / "earworm.db.heartbeat"
    healthy, why = check_health(settings)
    assert not healthy and "no heartbeat" in why
    settings.heartbeat_path.touch()
    assert check_health(settings)[0]
    old = time.time() - HEALTH_MAX_AGE_S - 5
    os.utime(settings.heartbeat_path, (old, old))
    healthy, why = check_health(settings)
    assert not healthy and "stale" in why
