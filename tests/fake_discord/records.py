"""What the fake Discord is made of besides its state: the records a test inspects
(:class:`InteractionRecord`, uploads, the gateway connection), its errors, and small helpers for
request bodies, JSON responses, attachments, emoji and components."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_discord.models import Channel, Guild, User
from tests.fake_discord.rules import walk_components

__all__ = [
    "ChannelRef",
    "FakeDiscordError",
    "GatewayConnection",
    "GuildRef",
    "HTTPError",
    "InteractionRecord",
    "MessageRef",
    "MiB",
    "TEST_ONLY_KEYS",
    "Upload",
    "UserRef",
    "custom_ids",
    "emoji_payload",
    "find_component",
    "guess_type",
    "json_response",
    "no_content",
    "number_components",
    "public_attachment",
    "read_body",
]


MiB = 1024 * 1024
TEST_ONLY_KEYS = ("ephemeral", "allowed_mentions", "history", "deleted")

UserRef = User | int | str
GuildRef = Guild | int | str | None
ChannelRef = Channel | int | str | None
MessageRef = Mapping[str, Any] | int | str


class FakeDiscordError(AssertionError):
    """A test-side misuse or a failed wait (with a summary of what the fake saw)."""


class HTTPError(Exception):
    def __init__(
        self, status: int, message: str, code: int = 0, errors: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.errors = status, message, code, errors


@dataclass
class Upload:
    index: int
    filename: str
    data: bytes
    content_type: str


@dataclass
class InteractionRecord:
    """One interaction the test sent, and everything the bot answered to it."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete, 5 modal submit
    payload: dict[str, Any]
    user_id: int
    guild_id: int | None
    channel_id: int
    created_at: float = field(default_factory=time.monotonic)
    #: Callback records: {"type", "data", "files", "at" (s after creation), "message"}.
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    #: The original response message (type 4 or 5) or, for type 6/7, the clicked message.
    original: dict[str, Any] | None = None
    #: Followup messages in order (after a defer, the first one is ``original`` itself).
    followups: list[dict[str, Any]] = field(default_factory=list)
    #: The modal shown (callback type 9 data), if any.
    modal: dict[str, Any] | None = None
    #: Autocomplete choices (callback type 8), if any.
    choices: list[dict[str, Any]] | None = None
    #: For components: the message clicked.
    message_id: int | None = None
    _pending_defer: bool = False

    @property
    def response(self) -> dict[str, Any] | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The original response (if it is a message) and the followups, no duplicates."""
        out: list[dict[str, Any]] = []
        for m in ([self.original] if self.original else []) + self.followups:
            if all(m is not o for o in out):
                out.append(m)
        return out


@dataclass
class GatewayConnection:
    ws: web.WebSocketResponse
    seq: int = 0
    session_id: str | None = None
    intents: int = 0
    identified: bool = False
    closed_code: int | None = None

    async def send(self, op: int, d: Any = None, t: str | None = None) -> None:
        msg: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == 0:
            self.seq += 1
            msg["s"] = self.seq
        await self.ws.send_str(json.dumps(msg))


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py only parses JSON with this exact Content-Type.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    if not request.can_read_body:
        return {}, []
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        payload: Any = {}
        uploads: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":
                payload = json.loads(await part.text())
                continue
            m = re.match(r"files\[(\d+)\]$", part.name or "")
            if m or part.filename:
                data = await part.read(decode=False)
                uploads.append(
                    Upload(
                        index=int(m.group(1)) if m else len(uploads),
                        filename=part.filename or f"file{len(uploads)}",
                        data=bytes(data),
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                    )
                )
        return payload, uploads
    raw = await request.read()
    if not raw:
        return {}, []
    if ctype != "application/json":
        raise HTTPError(400, f"fake Discord expects application/json bodies, got {ctype!r}", 50035)
    return json.loads(raw), []


def public_attachment(att: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in att.items() if k != "data"}


def emoji_payload(emoji: str) -> dict[str, Any]:
    if ":" in emoji:
        name, _, eid = emoji.rpartition(":")
        return {"id": eid, "name": name, "animated": False}
    return {"id": None, "name": emoji}


def guess_type(filename: str) -> str:
    import mimetypes

    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def find_component(
    components: Iterable[Mapping[str, Any]], custom_id: str
) -> Mapping[str, Any] | None:
    return next((c for c in walk_components(components) if c.get("custom_id") == custom_id), None)


def custom_ids(components: Iterable[Mapping[str, Any]]) -> list[str]:
    return [c["custom_id"] for c in walk_components(components) if "custom_id" in c]


def number_components(components: list[dict[str, Any]]) -> None:
    n = 0
    for c in walk_components(components):
        n += 1
        if isinstance(c, dict) and not c.get("id"):
            c["id"] = n
