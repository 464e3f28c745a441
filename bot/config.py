"""Configuration from the environment (and an optional ``.env`` file), with pydantic-settings.

Every setting has an environment variable, ``EARWORM_<FIELD NAME>`` in upper case, except the bot
token, which is ``DISCORD_TOKEN``. :meth:`Settings.from_env` reads and validates them; all problems
are collected into one :class:`ConfigError`, one line per variable::

    EARWORM_WORKERS: must be a whole number from 1 to 64, got 'abc'

The real environment wins over ``.env``. An empty value counts as unset (the default applies).
``Settings(...)`` itself reads nothing: it holds what it is given and the defaults for the rest,
and for the engine's settings those are the engine's own (``bot.service.engine.EngineConfig``,
the one place they live).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.service.engine import EngineConfig, default_workers

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

log = logging.getLogger(__name__)

__all__ = ["ConfigError", "Settings", "default_workers", "parse_env_file"]

MiB = 1024 * 1024
TOKEN_ENV = "DISCORD_TOKEN"
PREFIX = "EARWORM_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """One or more settings are missing or invalid; ``problems`` lists each one."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"Invalid configuration: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"Invalid configuration ({len(self.problems)} problems):\n{lines}"


# ---------------------------------------------------------------------- parsers


def _int_range(lo: int, hi: int | None, what: str = "a whole number") -> Callable[[str], int]:
    def parse(raw: str) -> int:
        message = (
            f"must be {what} from {lo} to {hi}"
            if hi is not None
            else f"must be {what} of at least {lo}"
        )
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(message) from None
        if value < lo or (hi is not None and value > hi):
            raise ValueError(message)
        return value

    return parse


def _seconds(lo_exclusive: float = 0.0, hi: float = 7 * 24 * 3600.0) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        message = f"must be a number of seconds greater than {lo_exclusive:g} and at most {hi:g}"
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(message) from None
        if not math.isfinite(value) or value <= lo_exclusive or value > hi:
            raise ValueError(message)
        return value

    return parse


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "ki": 1024, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mi": 1024**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gi": 1024**3, "gib": 1024**3,
}  # fmt: skip


def _byte_size(raw: str) -> int:
    """Bytes: ``26214400``, ``25MiB`` (binary) or ``25MB`` (decimal)."""
    message = "must be a size in bytes greater than 0 (e.g. 26214400, 25MiB or 25MB)"
    m = _SIZE_RE.match(raw.replace("_", ""))
    if not m:
        raise ValueError(message)
    value = float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()]
    if value < 1 or value > 2**53:
        raise ValueError(message)
    return int(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(raw: str) -> bool:
    v = raw.lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("must be one of 1/0, true/false, yes/no")


def _snowflake(raw: str) -> int:
    message = "must be a Discord ID (a whole number, e.g. 123456789012345678)"
    if not raw.isdigit():
        raise ValueError(message)
    value = int(raw)
    if not 0 < value < 2**64:
        raise ValueError(message)
    return value


def _url(schemes: tuple[str, ...], example: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(f"must be a {' or '.join(schemes)} URL such as {example}")
        return raw.rstrip("/") if parts.scheme.startswith("http") else raw

    return parse


def _log_level(raw: str) -> str:
    v = raw.upper()
    if v not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return v


def _token(raw: str) -> str:
    if any(c.isspace() for c in raw):
        raise ValueError("must not contain spaces (paste the token only, without 'Bot ')")
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _parsed(parse: Callable[[str], Any]) -> BeforeValidator:
    """Validate a field with one of the parsers above: text from the environment as it is, a
    value given in code through its text (``None`` stays unset), so each bad value gets the
    parser's one message."""
    return BeforeValidator(lambda value: None if value is None else parse(str(value)))


Seconds = Annotated[float, _parsed(_seconds())]
ByteSize = Annotated[int, _parsed(_byte_size)]


class Settings(BaseSettings):
    """Everything configurable about Earworm. Build it from the environment with
    :meth:`from_env`; ``Settings(field=value, ...)`` takes the given values and the defaults."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        frozen=True,
        extra="forbid",
        validate_by_name=True,  # Settings(discord_token=...) as well as DISCORD_TOKEN=...
    )

    #: Bot token; required only to run the bot (see :meth:`require_token`). Never printed.
    discord_token: Annotated[str | None, _parsed(_token)] = Field(
        default=None, repr=False, validation_alias=TOKEN_ENV
    )
    database_path: Annotated[Path, _parsed(_path)] = Path("data/earworm.db")
    #: Analysis worker processes.
    workers: Annotated[int, _parsed(_int_range(1, 64))] = Field(default_factory=default_workers)
    #: Longest one analysis job may run before its worker is replaced.
    job_timeout_s: Seconds = EngineConfig.job_timeout_s
    #: Largest Discord attachment accepted for analysis.
    max_attachment_bytes: ByteSize = 25 * MiB
    #: Largest download accepted from a link.
    max_download_bytes: ByteSize = EngineConfig.max_bytes
    #: Longest decoded audio accepted (checked before decoding everything).
    max_duration_s: Seconds = EngineConfig.max_duration_s
    download_timeout_s: Seconds = 60.0
    #: Most tracks taken from one playlist link.
    max_playlist_items: Annotated[int, _parsed(_int_range(1, 1000))] = 10
    #: How long a command may keep answering through its interaction (Discord's token lives
    #: 15 minutes); past it, a long ``/catalog add`` posts its summary in the channel instead.
    interaction_deadline_s: Annotated[float, _parsed(_seconds(hi=15 * 60.0))] = 14 * 60.0
    #: Allow links to private, loopback and link-local addresses (tests only).
    allow_private_links: Annotated[bool, _parsed(_bool)] = False
    per_user_concurrent_jobs: Annotated[int, _parsed(_int_range(1, 100))] = EngineConfig.per_user_concurrent
    per_user_jobs_per_minute: Annotated[int, _parsed(_int_range(1, 10_000))] = EngineConfig.per_user_per_minute
    #: Jobs waiting for a worker before new ones are refused with "busy, try again".
    max_queue: Annotated[int, _parsed(_int_range(1, 100_000))] = EngineConfig.max_queue
    #: When set, app commands sync to this guild only (instantly) instead of globally.
    dev_guild_id: Annotated[int | None, _parsed(_snowflake)] = None
    #: Override for ``discord.http.Route.BASE`` (e.g. ``http://127.0.0.1:8080/api/v10``).
    api_base_url: Annotated[
        str | None, _parsed(_url(("http", "https"), "http://127.0.0.1:8080/api/v10"))
    ] = None
    #: Override for ``DiscordWebSocket.DEFAULT_GATEWAY`` (e.g. ``ws://127.0.0.1:8080/gw``).
    gateway_url: Annotated[str | None, _parsed(_url(("ws", "wss"), "ws://127.0.0.1:8080/gw"))] = None
    log_level: Annotated[str, _parsed(_log_level)] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Construction reads nothing implicitly (tests and code pass what they mean); the
        # environment and .env come in through from_env, with one message per bad value.
        return (init_settings,)

    # ------------------------------------------------------------------ loading

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The environment variable for a field: ``workers`` -> ``EARWORM_WORKERS``."""
        return TOKEN_ENV if field_name == "discord_token" else PREFIX + field_name.upper()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | str | None = Path(".env"),
    ) -> Settings:
        """Read and validate the settings.

        ``environ`` defaults to ``os.environ``. ``env_file`` is read if it exists (a missing file
        is not an error); pass ``None`` to skip it. Raises :class:`ConfigError` listing every
        invalid value.
        """
        if environ is None:
            environ = os.environ
        problems: list[str] = []
        values: dict[str, str] = {}
        if env_file is not None:
            path = Path(env_file)
            if path.is_file():
                file_values, file_problems = parse_env_file(path)
                values.update(file_values)
                problems.extend(file_problems)
        values.update({k: v for k, v in environ.items() if k == TOKEN_ENV or k.startswith(PREFIX)})
        known = {cls.env_name(name) for name in cls.model_fields}
        _warn_unknown(values, known)

        # Exactly the known names (an unknown one was only warned about); empty: the default.
        given = {k: v.strip() for k, v in values.items() if k in known and v.strip()}
        try:
            settings = cls(**_ValuesSource(cls, given)())
        except ValidationError as exc:
            problems.extend(_problem(error) for error in exc.errors())
        if problems:
            raise ConfigError(problems)
        return settings

    @property
    def heartbeat_path(self) -> Path:
        """Where the running bot touches its heartbeat file (next to the database), read by
        ``earworm run --health``."""
        return self.database_path.with_name(self.database_path.name + ".heartbeat")

    def require_token(self) -> str:
        """The bot token, or a :class:`ConfigError` saying how to provide it."""
        if not self.discord_token:
            raise ConfigError(
                f"{TOKEN_ENV}: required to run the bot; set it in the environment or in .env "
                "(Discord developer portal > your application > Bot > Reset Token)"
            )
        return self.discord_token

    def describe(self) -> str:
        """The settings as ``ENV_NAME = value`` lines, the token masked."""
        lines = []
        width = max(len(self.env_name(name)) for name in type(self).model_fields)
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "discord_token":
                shown = "<not set>" if not value else "<set, hidden>"
            elif value is None:
                shown = "<not set>"
            else:
                shown = str(value)
            lines.append(f"{self.env_name(name).ljust(width)} = {shown}")
        return "\n".join(lines)


class _ValuesSource(EnvSettingsSource):
    """pydantic-settings' environment source (variable names, prefix, the token's own name) over
    the values ``from_env`` gathered (the environment over .env) rather than ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, str]) -> None:
        self._values = values
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str]:
        # As EnvSettingsSource does with os.environ: names compared in lower case unless the
        # settings are case-sensitive (from_env has already kept exactly the known names).
        return {k if self.case_sensitive else k.lower(): v for k, v in self._values.items()}


def _problem(error: ErrorDetails) -> str:
    """One line per bad value: ``EARWORM_WORKERS: must be ..., got 'abc'`` (never the token)."""
    field = str(error["loc"][0]) if error["loc"] else ""
    name = field if field == TOKEN_ENV else Settings.env_name(field)
    cause = error.get("ctx", {}).get("error")
    reason = str(cause) if cause is not None else error["msg"]
    return f"{name}: {reason}" if name == TOKEN_ENV else f"{name}: {reason}, got {error['input']!r}"


def _warn_unknown(values: Mapping[str, str], known: set[str]) -> None:
    for name in sorted(values):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            log.warning("Ignoring unknown setting %s%s", name, hint)


# ---------------------------------------------------------------------- .env


_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Parse a ``.env`` file: ``KEY=VALUE`` lines, optional ``export``, ``#`` comments,
    single quotes (literal) and double quotes (``\\n``-style escapes). Returns the values and
    one problem string per line that could not be parsed."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, sep, rest = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            problems.append(f"{path}:{lineno}: expected KEY=VALUE, got {line.strip()!r}")
            continue
        try:
            values[key] = _env_value(rest.strip())
        except ValueError as exc:
            problems.append(f"{path}:{lineno}: {key}: {exc}")
    return values, problems


def _env_value(rest: str) -> str:
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise ValueError("unterminated single quote")
        _check_trailing(rest[end + 1 :])
        return rest[1:end]
    if rest[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(rest):
            c = rest[i]
            if c == "\\" and i + 1 < len(rest):
                out.append(_ESCAPES.get(rest[i + 1], "\\" + rest[i + 1]))
                i += 2
                continue
            if c == '"':
                _check_trailing(rest[i + 1 :])
                return "".join(out)
            out.append(c)
            i += 1
        raise ValueError("unterminated double quote")
    # Unquoted: an inline comment starts at " #".
    m = re.search(r"\s#", rest)
    return (rest[: m.start()] if m else rest).strip()


def _check_trailing(tail: str) -> None:
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise ValueError(f"unexpected text after the closing quote: {tail!r}")
