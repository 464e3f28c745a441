"""Settings from the environment and .env: defaults, parsing, validation, masking."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, Settings, default_workers, parse_env_file


def load(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return Settings.from_env(env, env_file=env_file)


def test_defaults():
    s = load({})
    assert s.discord_token is None
    assert s.database_path == Path("data/earworm.db")
    assert 1 <= s.workers <= 64
    assert s.max_attachment_bytes == 25 * 1024 * 1024
    assert s.max_duration_s == 20 * 60
    assert s.allow_private_links is False
    assert (s.per_user_concurrent_jobs, s.per_user_jobs_per_minute, s.max_queue) == (2, 6, 32)
    assert s.dev_guild_id is None and s.api_base_url is None and s.gateway_url is None
    assert s.log_level == "INFO"
    assert s == Settings(workers=s.workers)


def test_every_variable_is_read():
    env = {
        "DISCORD_TOKEN": "abc.def.ghi",
        "EARWORM_DATABASE_PATH": "/tmp/x.db",
        "EARWORM_WORKERS": "3",
        "EARWORM_JOB_TIMEOUT_S": "90.5",
        "EARWORM_MAX_ATTACHMENT_BYTES": "8MiB",
        "EARWORM_MAX_DOWNLOAD_BYTES": "100MB",
        "EARWORM_MAX_DURATION_S": "600",
        "EARWORM_DOWNLOAD_TIMEOUT_S": "30",
        "EARWORM_MAX_PLAYLIST_ITEMS": "5",
        "EARWORM_INTERACTION_DEADLINE_S": "600",
        "EARWORM_ALLOW_PRIVATE_LINKS": "yes",
        "EARWORM_PER_USER_CONCURRENT_JOBS": "1",
        "EARWORM_PER_USER_JOBS_PER_MINUTE": "10",
        "EARWORM_MAX_QUEUE": "64",
        "EARWORM_DEV_GUILD_ID": "123456789012345678",
        "EARWORM_API_BASE_URL": "http://127.0.0.1:8080/api/v10/",
        "EARWORM_GATEWAY_URL": "ws://127.0.0.1:8080/gw",
        "EARWORM_LOG_LEVEL": "debug",
    }
    s = load(env)
    assert s.require_token() == "abc.def.ghi"
    assert s.database_path == Path("/tmp/x.db")
    assert s.workers == 3 and s.job_timeout_s == 90.5
    assert s.max_attachment_bytes == 8 * 1024 * 1024 and s.max_download_bytes == 100_000_000
    assert s.max_duration_s == 600 and s.download_timeout_s == 30 and s.max_playlist_items == 5
    assert s.interaction_deadline_s == 600
    assert s.allow_private_links is True
    assert (s.per_user_concurrent_jobs, s.per_user_jobs_per_minute, s.max_queue) == (1, 10, 64)
    assert s.dev_guild_id == 123456789012345678
    assert s.api_base_url == "http://127.0.0.1:8080/api/v10"  # trailing slash dropped
    assert s.gateway_url == "ws://127.0.0.1:8080/gw"
    assert s.log_level == "DEBUG"
    # Every field has a variable: the table above covers them all.
    assert {Settings.env_name(name) for name in Settings.model_fields} == set(env)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_booleans(raw, value):
    assert load({"EARWORM_ALLOW_PRIVATE_LINKS": raw}).allow_private_links is value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("26214400", 26214400),
        ("25MiB", 25 * 1024**2),
        ("25 MB", 25_000_000),
        ("1.5GiB", int(1.5 * 1024**3)),
    ],
)
def test_byte_sizes(raw, value):
    assert load({"EARWORM_MAX_ATTACHMENT_BYTES": raw}).max_attachment_bytes == value


def test_all_problems_are_reported_at_once():
    env = {
        "EARWORM_WORKERS": "abc",
        "EARWORM_MAX_QUEUE": "0",
        "EARWORM_ALLOW_PRIVATE_LINKS": "maybe",
        "EARWORM_MAX_ATTACHMENT_BYTES": "lots",
        "EARWORM_JOB_TIMEOUT_S": "-1",
        "EARWORM_DEV_GUILD_ID": "my-guild",
        "EARWORM_API_BASE_URL": "ftp://example.com",
        "EARWORM_GATEWAY_URL": "http://127.0.0.1/gw",
        "EARWORM_LOG_LEVEL": "LOUD",
    }
    with pytest.raises(ConfigError) as info:
        load(env)
    problems = info.value.problems
    assert len(problems) == len(env)
    assert "EARWORM_WORKERS: must be a whole number from 1 to 64, got 'abc'" in problems
    message = str(info.value)
    for name in env:
        assert name in message
    assert "got 'maybe'" in message and "must be one of 1/0, true/false, yes/no" in message


def test_workers_range():
    assert load({"EARWORM_WORKERS": "64"}).workers == 64
    with pytest.raises(
        ConfigError, match="EARWORM_WORKERS: must be a whole number from 1 to 64, got '65'"
    ):
        load({"EARWORM_WORKERS": "65"})


def test_the_interaction_deadline_stays_within_the_token_lifetime():
    assert load({}).interaction_deadline_s == 14 * 60  # a minute's margin on Discord's 15
    with pytest.raises(ConfigError, match="EARWORM_INTERACTION_DEADLINE_S: .* at most 900"):
        load({"EARWORM_INTERACTION_DEADLINE_S": "901"})


def test_empty_values_mean_default():
    s = load({"EARWORM_DEV_GUILD_ID": "", "EARWORM_WORKERS": "  ", "DISCORD_TOKEN": ""})
    assert s.dev_guild_id is None and s.discord_token is None and s.workers >= 1


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# Earworm settings\n"
        "\n"
        "DISCORD_TOKEN='file.token'\n"
        "export EARWORM_WORKERS=2\n"
        'EARWORM_DATABASE_PATH="/var/lib/earworm/db.sqlite"  # absolute\n'
        "EARWORM_MAX_QUEUE = 16 # inline comment\n"
        "EARWORM_LOG_LEVEL=warning\n"
        "OTHER_TOOL=ignored\n"
    )
    s = load({"EARWORM_WORKERS": "4"}, env_file)
    assert s.discord_token == "file.token"
    assert s.workers == 4  # the real environment wins
    assert s.database_path == Path("/var/lib/earworm/db.sqlite")
    assert s.max_queue == 16 and s.log_level == "WARNING"


def test_env_file_problems_are_reported_with_line_numbers(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "EARWORM_WORKERS=2\nthis is not a setting\nEARWORM_MAX_QUEUE='16\nEARWORM_WORKERS=x\n"
    )
    with pytest.raises(ConfigError) as info:
        load({}, env_file)
    text = str(info.value)
    assert ".env:2: expected KEY=VALUE" in text
    assert ".env:3: EARWORM_MAX_QUEUE: unterminated single quote" in text
    assert "EARWORM_WORKERS: must be a whole number from 1 to 64, got 'x'" in text  # last one wins


def test_env_file_quotes_and_escapes(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        'A="line1\\nline2 \\"quoted\\""\nB=\'#not a comment\'\nC=a#b\nD=\nE="x" # c\n'
    )
    values, problems = parse_env_file(env_file)
    assert problems == []
    assert values == {
        "A": 'line1\nline2 "quoted"',
        "B": "#not a comment",
        "C": "a#b",
        "D": "",
        "E": "x",
    }


def test_a_missing_env_file_is_fine(tmp_path):
    assert load({}, tmp_path / "nope.env").workers >= 1


def test_require_token():
    with pytest.raises(ConfigError, match="DISCORD_TOKEN: required to run the bot"):
        Settings().require_token()
    assert Settings(discord_token="t").require_token() == "t"
    with pytest.raises(ConfigError, match="DISCORD_TOKEN: must not contain spaces"):
        load({"DISCORD_TOKEN": "Bot abc"})


def test_the_token_never_shows():
    secret = "MTIzNDU2Nzg5.secret.token"
    s = load({"DISCORD_TOKEN": secret, "EARWORM_WORKERS": "2"})
    text = s.describe()
    assert secret not in text and secret not in repr(s)
    assert "DISCORD_TOKEN" in text and "<set, hidden>" in text
    assert "EARWORM_WORKERS" in text and "= 2" in text
    assert "EARWORM_DEV_GUILD_ID" in text and "<not set>" in text
    assert "<not set>" in Settings().describe().splitlines()[0]


def test_unknown_earworm_variables_are_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        load({"EARWORM_WORKER": "2", "UNRELATED": "1"})
    assert "EARWORM_WORKER" in caplog.text and "did you mean EARWORM_WORKERS?" in caplog.text
    assert "UNRELATED" not in caplog.text


def test_settings_are_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        Settings().workers = 3  # type: ignore[misc]


def test_reads_os_environ_by_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("EARWORM_MAX_QUEUE", "7")
    assert Settings.from_env().max_queue == 7


def test_an_empty_environment_value_overrides_env_file_with_the_default(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("EARWORM_MAX_QUEUE=16\nEARWORM_LOG_LEVEL=debug\n")
    s = load({"EARWORM_MAX_QUEUE": ""}, env_file)
    assert s.max_queue == 32 and s.log_level == "DEBUG"


def test_names_are_exact(caplog):
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        s = load({"earworm_workers": "3", "EARWORM_workers": "3", "discord_token": "t"})
    assert s.workers == default_workers() and s.discord_token is None
    assert "EARWORM_workers" in caplog.text  # warned about, not used


def test_values_given_in_code_are_checked_the_same_way():
    s = Settings(discord_token="t", workers=3, max_attachment_bytes="8MiB", dev_guild_id=None)
    assert (s.workers, s.max_attachment_bytes, s.dev_guild_id) == (3, 8 * 1024 * 1024, None)
    with pytest.raises(ValidationError, match="must be a whole number from 1 to 64"):
        Settings(workers=0)
    with pytest.raises(ValidationError, match="worker"):
        Settings(worker=3)  # type: ignore[call-arg]  # a misspelt field is an error, not ignored


def test_workers_default_to_the_usable_cpus():
    from inference.pool import worker_threads

    assert default_workers() == min(64, worker_threads())  # the pool's CPU count, outside a worker
    assert Settings().workers == default_workers()  # the other defaults: tests/bot/service/test_engine.py
