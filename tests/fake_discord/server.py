"""A fake Discord on 127.0.0.1: REST (``/api/v10``), gateway websocket (``/gw``) and a CDN
(``/cdn``), faithful enough that the real, unmodified ``bot.start()`` runs against it.

Test-side API (all coroutines unless noted)::

    fake = FakeDiscord()                     # default: users alice, bob, carol; one guild
    await fake.start()                       # fake.api_base, fake.gateway_url, fake.cdn_base
    ... start the bot with Route.BASE / DEFAULT_GATEWAY pointed at it ...
    await fake.wait_ready()                  # IDENTIFY answered with READY + GUILD_CREATE
    ix = await fake.slash("alice", None, "music", "classify", options={"file": att})
    reply = await fake.wait_for_followup(ix)         # a message record (dict)
    reply["embeds"][0]["title"], reply["attachments"][0]["data"], reply["flags"] & 64

Behaviour that mirrors real Discord (and catches real bugs):
- the first interaction response must come within ``response_deadline_s`` (3 s): later ones
  get 404 "Unknown interaction" (10062) and are listed in ``fake.problems``;
- acknowledging twice gives 400 (40060); followups/edits before any response give 404 (10015);
- the interaction token lives ``interaction_token_lifetime_s`` (15 min): later followups and
  edits get 401 "Invalid Webhook Token" (50027) and are listed in ``fake.problems``;
- after a type-5 defer, the first followup *replaces* the "thinking" message and keeps the
  defer's visibility (its own ephemeral flag is ignored), as Discord does; once the original
  response is deleted, a followup is a new message with its own flags;
- messages are validated (empty message, 2000-char content, embed and component limits) ->
  400 Invalid Form Body (50035), also listed in ``fake.problems``;
- events the bot's intents don't cover are dropped (``fake.dropped_events``); without the
  message content intent, user messages arrive with empty content/attachments/embeds;
- requesting a privileged intent that is not enabled closes the gateway with 4014;
- unknown routes answer 404 ``{"message": "Unknown", "code": 0}`` and are listed in
  ``fake.unknown_routes``; exceptions inside the fake are listed in ``fake.errors``.
  ``fake.assert_clean()`` raises if any of unknown_routes / errors / problems is non-empty.

Message records are dicts in Discord's message shape plus test-only keys: ``ephemeral``,
``allowed_mentions`` (as sent), ``history`` (earlier versions, one per edit), ``deleted`` and,
inside each attachment, ``data`` (the bytes). ``attachment://name`` URLs in embeds are rewritten
to the CDN URL of the uploaded file, as Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import secrets
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from .models import (
    EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    INTENT_DIRECT_MESSAGE_REACTIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
    Channel,
    Guild,
    User,
    iso_now,
    snowflake,
)
from .rules import SELECT_TYPES, validate_command, validate_message, walk_components

log = logging.getLogger(__name__)

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


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py only parses JSON with this exact Content-Type.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


class FakeDiscord:
    """See the module docstring. ``guilds``: names, dicts (``name``, ``channels``, ``members``,
    ``admins``, ``id``) or :class:`Guild`; ``users``: usernames, dicts or :class:`User`."""

    def __init__(
        self,
        guilds: Sequence[str | Mapping[str, Any] | Guild] | None = None,
        users: Sequence[str | Mapping[str, Any] | User] | None = None,
        *,
        token: str | None = "fake-token",
        bot_name: str = "Earworm",
        response_deadline_s: float | None = 3.0,
        interaction_token_lifetime_s: float | None = 15 * 60.0,
        attachment_size_limit: int = 10 * MiB,
        privileged_intents: Iterable[str] = ("message_content",),
        heartbeat_interval_ms: int = 41250,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.response_deadline_s = response_deadline_s
        self.interaction_token_lifetime_s = interaction_token_lifetime_s
        self.attachment_size_limit = attachment_size_limit
        self.privileged_intents = set(privileged_intents)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.host, self.port = host, port

        self.bot_user = User(bot_name.lower(), global_name=bot_name, bot=True)
        self.app_id = self.bot_user.id
        self.owner_user = User("app-owner")

        self.users: dict[int, User] = {}
        for spec in users if users is not None else ("alice", "bob", "carol"):
            u = (
                spec
                if isinstance(spec, User)
                else User(spec)
                if isinstance(spec, str)
                else User(**spec)
            )
            self.users[u.id] = u
        self.users[self.bot_user.id] = self.bot_user

        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        for spec in guilds if guilds is not None else ("Earworm Test",):
            self._add_guild(spec)

        self.messages: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        self._cdn: dict[str, tuple[bytes, str]] = {}
        self._reactors: dict[tuple[int, str], list[int]] = {}

        #: Synced app commands by scope: None (global) or a guild id.
        self.commands_by_scope: dict[int | None, list[dict[str, Any]]] = {}
        #: Every PUT of the command list: {"scope", "names", "payload"}.
        self.sync_log: list[dict[str, Any]] = []
        #: Every REST request: {"method", "path", "query", "status", "json"}.
        self.requests: list[dict[str, Any]] = []
        self.unknown_routes: list[str] = []
        self.errors: list[str] = []
        self.problems: list[str] = []
        self.dropped_events: list[tuple[str, str]] = []
        #: Gateway payloads received from the bot: (op, d).
        self.gateway_received: list[tuple[int, Any]] = []
        self.identify: dict[str, Any] | None = None
        self.resumes = 0
        self.close_codes: list[int | None] = []
        #: Callables run by every wait; they raise to abort it (e.g. "the bot task died").
        self.watchdogs: list[Callable[[], None]] = []

        self._conn: GatewayConnection | None = None
        self._sessions: set[str] = set()
        self._event = asyncio.Event()
        self._ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.api_base = self.gateway_url = self.cdn_base = self.base_url = ""
        self._routes = self._build_routes()

    # ================================================================== setup / lookup

    def _add_guild(self, spec: str | Mapping[str, Any] | Guild) -> Guild:
        if isinstance(spec, Guild):
            guild = spec
        else:
            spec = {"name": spec} if isinstance(spec, str) else dict(spec)
            channels = [
                c if isinstance(c, Channel) else Channel(c)
                for c in spec.get("channels", ("general", "music"))
            ]
            members = [
                self.user(m).id
                for m in spec.get("members", [u.id for u in self.users.values() if not u.bot])
            ]
            guild = Guild(
                spec["name"],
                id=spec.get("id", 0),
                channels=channels,
                member_ids=members,
                admin_ids={self.user(a).id for a in spec.get("admins", ())},
                owner_id=self.owner_user.id,
            )
        if self.bot_user.id not in guild.member_ids:
            guild.member_ids.append(self.bot_user.id)
        self.guilds[guild.id] = guild
        for ch in guild.channels:
            ch.guild_id = guild.id
            self.channels[ch.id] = ch
        return guild

    def user(self, ref: UserRef) -> User:
        """A user by :class:`User`, id or username."""
        if isinstance(ref, User):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            try:
                return self.users[int(ref)]
            except KeyError:
                raise FakeDiscordError(f"no user with id {ref}") from None
        for u in self.users.values():
            if u.username == ref:
                return u
        raise FakeDiscordError(
            f"no user {ref!r}; users: {[u.username for u in self.users.values()]}"
        )

    def guild(self, ref: GuildRef = None) -> Guild:
        """A guild by :class:`Guild`, id or name; ``None``: the first guild."""
        if isinstance(ref, Guild):
            return ref
        if ref is None:
            return next(iter(self.guilds.values()))
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.guilds[int(ref)]
        for g in self.guilds.values():
            if g.name == ref:
                return g
        raise FakeDiscordError(f"no guild {ref!r}")

    def channel(self, ref: ChannelRef = None, guild: GuildRef = None) -> Channel:
        """A channel by :class:`Channel`, id or name (in ``guild``, default the first guild);
        ``None``: the guild's first channel."""
        if isinstance(ref, Channel):
            return ref
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            try:
                return self.channels[int(ref)]
            except KeyError:
                raise FakeDiscordError(f"no channel with id {ref}") from None
        g = self.guild(guild)
        if ref is None:
            return g.channels[0]
        for ch in g.channels:
            if ch.name == ref:
                return ch
        raise FakeDiscordError(f"no channel {ref!r} in guild {g.name!r}")

    def dm_channel(self, user: UserRef) -> Channel:
        u = self.user(user)
        for ch in self.channels.values():
            if ch.type == 1 and ch.recipient_id == u.id:
                return ch
        ch = Channel(f"dm-{u.username}", type=1, recipient_id=u.id)
        self.channels[ch.id] = ch
        return ch

    def message(self, ref: MessageRef) -> dict[str, Any]:
        """The stored record of a message (by record or id)."""
        mid = int(ref["id"]) if isinstance(ref, Mapping) else int(ref)
        try:
            return self.messages[mid]
        except KeyError:
            raise FakeDiscordError(f"no message {mid}") from None

    # ================================================================== lifecycle

    async def start(self) -> str:
        """Serve on 127.0.0.1 (a free port unless given); returns the API base URL."""
        app = web.Application(client_max_size=512 * MiB)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle_api)
        app.router.add_get("/gw", self._handle_gateway)
        app.router.add_get("/cdn/{tail:.*}", self._handle_cdn)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.port = port
        self.base_url = f"http://{self.host}:{port}"
        self.api_base = f"{self.base_url}/api/v10"
        self.gateway_url = f"ws://{self.host}:{port}/gw"
        self.cdn_base = f"{self.base_url}/cdn"
        return self.api_base

    async def close(self) -> None:
        if self._conn is not None and not self._conn.ws.closed:
            await self._conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ================================================================== waiting

    def _notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def add_watchdog(self, check: Callable[[], None]) -> None:
        """``check()`` runs on every wait and raises to abort it."""
        self.watchdogs.append(check)

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "a condition"
    ) -> Any:
        """Wait until ``predicate()`` returns something truthy and return it; raise
        :class:`FakeDiscordError` (with a summary of recent traffic) on timeout, and whatever
        a watchdog raises (e.g. the bot died) as soon as it does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for check in self.watchdogs:
                check()
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise FakeDiscordError(
                    f"timed out after {timeout:g} s waiting for {what}\n{self.summary()}"
                )
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.1))

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the bot IDENTIFYed and got READY and its GUILD_CREATEs."""
        await self.wait_for(self._ready.is_set, timeout, "the bot to IDENTIFY on the gateway")

    async def wait_for_response(
        self, interaction: InteractionRecord, timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first callback (interaction response): {"type", "data", "files", "at", "message"}."""
        return await self.wait_for(
            lambda: interaction.response, timeout, f"a response to interaction {interaction.id}"
        )

    async def wait_for_followup(
        self, interaction: InteractionRecord, timeout: float = 10.0, n: int = 1
    ) -> dict[str, Any]:
        """The ``n``-th followup message (1-based) of an interaction."""

        def get() -> dict[str, Any] | None:
            return interaction.followups[n - 1] if len(interaction.followups) >= n else None

        return await self.wait_for(get, timeout, f"followup #{n} of interaction {interaction.id}")

    async def wait_for_original(
        self,
        interaction: InteractionRecord,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The original response once it is no longer "thinking" (and matches ``predicate``)."""

        def get() -> dict[str, Any] | None:
            m = interaction.original
            if m is None or m["flags"] & FLAG_LOADING:
                return None
            return m if predicate is None or predicate(m) else None

        return await self.wait_for(
            get, timeout, f"the original response of interaction {interaction.id}"
        )

    async def wait_for_message(
        self,
        channel: ChannelRef = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        guild: GuildRef = None,
        after: MessageRef | None = None,
        from_bot: bool = True,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first visible (non-ephemeral, not deleted) message in a channel, by the bot
        unless ``from_bot=False``, newer than ``after``, matching ``predicate``."""
        ch = self.channel(channel, guild)
        after_id = (
            0 if after is None else int(after["id"]) if isinstance(after, Mapping) else int(after)
        )

        def get() -> dict[str, Any] | None:
            for m in self.messages_in(ch):
                if int(m["id"]) <= after_id:
                    continue
                if from_bot and m["author"]["id"] != str(self.bot_user.id):
                    continue
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_for(get, timeout, f"a message in #{ch.name}")

    async def wait_for_reaction(
        self,
        message: MessageRef,
        emoji: str = "❤️",
        user: UserRef | None = None,
        timeout: float = 5.0,
    ) -> None:
        """Until ``user`` (default: the bot) has reacted ``emoji`` to the message."""
        mid = int(self.message(message)["id"])
        uid = self.user(user).id if user is not None else self.bot_user.id
        await self.wait_for(
            lambda: uid in self._reactors.get((mid, emoji), ()), timeout, f"reaction {emoji}"
        )

    # ================================================================== inspection

    def callbacks_for(self, interaction: InteractionRecord) -> list[dict[str, Any]]:
        return list(interaction.callbacks)

    def messages_in(
        self,
        channel: ChannelRef,
        guild: GuildRef = None,
        *,
        include_ephemeral: bool = False,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first: by default what everyone there can see."""
        cid = str(self.channel(channel, guild).id)
        return [
            m
            for m in sorted(self.messages.values(), key=lambda m: int(m["id"]))
            if m["channel_id"] == cid
            and (include_ephemeral or not m["ephemeral"])
            and (include_deleted or not m["deleted"])
        ]

    def commands(self, guild: GuildRef = None) -> list[dict[str, Any]]:
        """Synced commands: global ones (``guild=None``) or those of a guild."""
        scope = None if guild is None else self.guild(guild).id
        return list(self.commands_by_scope.get(scope, []))

    def reactions_on(self, message: MessageRef) -> dict[str, list[int]]:
        mid = int(self.message(message)["id"])
        return {
            emoji: list(users) for (m, emoji), users in self._reactors.items() if m == mid and users
        }

    def summary(self, last: int = 15) -> str:
        lines = ["fake Discord saw:"]
        for r in self.requests[-last:]:
            lines.append(f"  {r['method']} {r['path']} -> {r['status']}")
        for title, items in (
            ("unknown routes", self.unknown_routes),
            ("problems", self.problems),
            ("dropped events", [f"{e} ({why})" for e, why in self.dropped_events]),
            ("fake errors", self.errors),
        ):
            if items:
                lines.append(f"  {title}:")
                lines.extend(f"    {x}" for x in items[-last:])
        return "\n".join(lines)

    def assert_clean(self) -> None:
        """Raise if the bot hit unknown routes, broke Discord's rules, or the fake failed."""
        if self.unknown_routes or self.errors or self.problems:
            raise FakeDiscordError(
                "fake Discord saw trouble:\n"
                + "\n".join(
                    [f"  unknown route: {r}" for r in self.unknown_routes]
                    + [f"  problem: {p}" for p in self.problems]
                    + [f"  fake error: {e}" for e in self.errors]
                )
            )

    # ================================================================== test-side actions

    def register_attachment(
        self, filename: str, data: bytes, content_type: str | None = None, *, channel_id: int = 0
    ) -> dict[str, Any]:
        """Serve ``data`` on the fake CDN; returns a Discord attachment dict (plus ``data``)
        for ``slash(options=...)``, ``post_user_message(attachments=...)`` and the like."""
        att_id = snowflake()
        path = f"attachments/{channel_id or 0}/{att_id}/{quote(filename)}"
        ctype = content_type or _guess_type(filename)
        self._cdn[path] = (data, ctype)
        url = f"{self.cdn_base}/{path}"
        return {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,
            "data": data,
        }

    async def slash(
        self,
        user: UserRef,
        guild: GuildRef,
        channel: ChannelRef,
        name: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
    ) -> InteractionRecord:
        """Invoke a synced slash command as ``user``. ``name`` may include subcommands
        (``"party start"``). ``options``: ``{name: value}`` typed from the synced schema
        (attachment options take a dict from :meth:`register_attachment`, user options a user
        ref), or a list of raw option dicts. ``guild=None`` with ``channel=None``: a DM."""
        parts = name.split()
        g, ch = self._where(user, guild, channel)
        cmd, scope_gid = self._find_command(parts[0], 1, g)
        resolved: dict[str, dict[str, Any]] = {}
        schema = cmd.get("options", [])
        wrappers: list[dict[str, Any]] = []
        for sub in parts[1:]:
            opt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if opt is None:
                raise FakeDiscordError(f"/{parts[0]} has no subcommand {sub!r}")
            wrappers.append({"type": opt["type"], "name": sub})
            schema = opt.get("options", [])
        if any(o["type"] in (1, 2) for o in schema):
            raise FakeDiscordError(f"/{name} needs a subcommand: {[o['name'] for o in schema]}")
        leaf = self._build_options(schema, options, resolved, g)
        for att in attachments:
            resolved.setdefault("attachments", {})[str(att["id"])] = _public_attachment(att)
        for wrapper in reversed(wrappers):
            wrapper["options"] = leaf
            leaf = [wrapper]
        data: dict[str, Any] = {"id": cmd["id"], "name": parts[0], "type": 1, "options": leaf}
        if resolved:
            data["resolved"] = resolved
        if scope_gid is not None:
            data["guild_id"] = str(scope_gid)
        return await self._send_interaction(2, user, g, ch, data)

    async def message_command(
        self, user: UserRef, guild: GuildRef, channel: ChannelRef, name: str, message: MessageRef
    ) -> InteractionRecord:
        """Invoke a message context-menu command on ``message`` (a record or id)."""
        msg = self.message(message)
        if channel is None and guild is None:
            channel = int(msg["channel_id"])
        g, ch = self._where(user, guild, channel)
        cmd, scope_gid = self._find_command(name, 3, g)
        view = self._api_message(msg)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": msg["id"],
            "resolved": {"messages": {msg["id"]: view}},
        }
        if scope_gid is not None:
            data["guild_id"] = str(scope_gid)
        return await self._send_interaction(2, user, g, ch, data)

    async def user_command(
        self, user: UserRef, guild: GuildRef, channel: ChannelRef, name: str, target: UserRef
    ) -> InteractionRecord:
        """Invoke a user context-menu command on ``target``."""
        g, ch = self._where(user, guild, channel)
        cmd, scope_gid = self._find_command(name, 2, g)
        t = self.user(target)
        resolved: dict[str, Any] = {"users": {str(t.id): t.payload()}}
        if g is not None and t.id in g.member_ids:
            resolved["members"] = {
                str(t.id): g.member_payload(t, with_permissions=True, with_user=False)
            }
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 2,
            "target_id": str(t.id),
            "resolved": resolved,
        }
        if scope_gid is not None:
            data["guild_id"] = str(scope_gid)
        return await self._send_interaction(2, user, g, ch, data)

    async def click(
        self,
        user: UserRef,
        message: MessageRef,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
    ) -> InteractionRecord:
        """Click a button (or pick ``values`` in a select) on a message the bot sent."""
        msg = self.message(message)
        component = _find_component(msg.get("components", []), custom_id)
        if component is None:
            raise FakeDiscordError(
                f"message {msg['id']} has no component {custom_id!r}; it has "
                f"{_custom_ids(msg.get('components', []))}"
            )
        if component.get("disabled"):
            raise FakeDiscordError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in SELECT_TYPES:
            data["values"] = list(values or [])
        ch = self.channels[int(msg["channel_id"])]
        g = self.guilds.get(ch.guild_id) if ch.guild_id else None
        return await self._send_interaction(
            3, user, g, ch, data, message=self._api_message(msg), message_id=int(msg["id"])
        )

    async def submit_modal(
        self, user: UserRef, interaction: InteractionRecord, values: Mapping[str, str]
    ) -> InteractionRecord:
        """Submit the modal the bot showed in answer to ``interaction``."""
        if interaction.modal is None:
            raise FakeDiscordError(f"interaction {interaction.id} showed no modal")
        modal = interaction.modal

        def fill(c: dict[str, Any]) -> dict[str, Any]:
            if c.get("type") == 1:
                return {
                    "type": 1,
                    "id": c.get("id", 0),
                    "components": [fill(x) for x in c.get("components", [])],
                }
            if c.get("type") == 18:
                return {"type": 18, "id": c.get("id", 0), "component": fill(c["component"])}
            if c.get("type") == 4:
                return {
                    "type": 4,
                    "id": c.get("id", 0),
                    "custom_id": c["custom_id"],
                    "value": values.get(c["custom_id"], ""),
                }
            return {k: c[k] for k in ("type", "id", "custom_id") if k in c} | {
                "values": list(values.get(c.get("custom_id", ""), []))
            }

        data = {
            "custom_id": modal["custom_id"],
            "components": [fill(c) for c in modal.get("components", [])],
        }
        g = self.guilds.get(interaction.guild_id) if interaction.guild_id else None
        return await self._send_interaction(
            5,
            user,
            g,
            self.channels[interaction.channel_id],
            data,
            message_id=interaction.message_id,
        )

    async def post_user_message(
        self,
        user: UserRef,
        channel: ChannelRef,
        content: str = "",
        attachments: Sequence[Mapping[str, Any] | tuple[str, bytes]] = (),
        *,
        guild: GuildRef = None,
        embeds: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """A user posts a message (MESSAGE_CREATE; stored so ``fetch_message`` works).
        ``attachments``: dicts from :meth:`register_attachment` or ``(filename, bytes)``."""
        u = self.user(user)
        ch = self.channel(channel, guild)
        atts = []
        for a in attachments:
            if isinstance(a, tuple):
                a = self.register_attachment(a[0], a[1], channel_id=ch.id)
            atts.append(dict(a))
        msg = self._new_message(ch, u, {"content": content, "embeds": list(embeds)}, [], flags=0)
        msg["attachments"] = atts
        msg["mentions"] = [
            self.users[int(i)].payload()
            for i in re.findall(r"<@!?(\d+)>", content)
            if int(i) in self.users
        ]
        await self._dispatch_message_event("MESSAGE_CREATE", msg)
        self._notify()
        return msg

    async def react(self, user: UserRef, message: MessageRef, emoji: str = "❤️") -> None:
        """``user`` adds a reaction (MESSAGE_REACTION_ADD, with ``type`` and burst fields)."""
        await self._react(self.user(user), self.message(message), emoji, add=True)

    async def unreact(self, user: UserRef, message: MessageRef, emoji: str = "❤️") -> None:
        """``user`` removes a reaction (MESSAGE_REACTION_REMOVE)."""
        await self._react(self.user(user), self.message(message), emoji, add=False)

    async def dispatch_raw(self, event: str, data: Any) -> None:
        """Send any gateway event as is (for testing the bot against odd payloads)."""
        await self._dispatch(event, data, respect_intents=False)

    async def force_reconnect(self, timeout: float = 10.0) -> None:
        """Ask the bot to reconnect (op 7) and wait until it RESUMEd."""
        conn = self._require_conn()
        before = self.resumes
        await conn.send(7, None)
        await self.wait_for(lambda: self.resumes > before, timeout, "the bot to RESUME")

    # ================================================================== interactions (internal)

    def _where(
        self, user: UserRef, guild: GuildRef, channel: ChannelRef
    ) -> tuple[Guild | None, Channel]:
        """Resolve where an interaction happens: a guild channel, or (both None) a DM."""
        if guild is None and channel is None:
            return None, self.dm_channel(user)
        ch = self.channel(channel, guild)
        if ch.type == 1:
            return None, ch
        g = self.guilds[ch.guild_id]  # type: ignore[index]
        if guild is not None and g.id != self.guild(guild).id:
            raise FakeDiscordError(f"channel {ch.name!r} is not in guild {guild!r}")
        return g, ch

    def _find_command(
        self, name: str, ctype: int, guild: Guild | None
    ) -> tuple[dict[str, Any], int | None]:
        scopes: list[int | None] = [guild.id] if guild is not None else []
        scopes.append(None)
        for scope in scopes:
            for cmd in self.commands_by_scope.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd, scope
        known = {s: [c["name"] for c in cmds] for s, cmds in self.commands_by_scope.items()}
        raise FakeDiscordError(f"command {name!r} (type {ctype}) is not synced; synced: {known}")

    def _build_options(
        self,
        schema: list[dict[str, Any]],
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        guild: Guild | None,
    ) -> list[dict[str, Any]]:
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            return [dict(o) for o in options]
        by_name = {o["name"]: o for o in schema}
        for key in options:
            if key not in by_name:
                raise FakeDiscordError(f"no option {key!r}; options are {list(by_name)}")
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
        if missing:
            raise FakeDiscordError(f"required options missing: {missing}")
        out = []
        for key, value in options.items():
            opt = by_name[key]
            t = opt["type"]
            if t == 11:
                att = dict(value)
                resolved.setdefault("attachments", {})[str(att["id"])] = _public_attachment(att)
                value = str(att["id"])
            elif t in (6, 9):
                u = self.user(value)
                resolved.setdefault("users", {})[str(u.id)] = u.payload()
                if guild is not None and u.id in guild.member_ids:
                    resolved.setdefault("members", {})[str(u.id)] = guild.member_payload(
                        u, with_permissions=True, with_user=False
                    )
                value = str(u.id)
            elif t == 7:
                ch = self.channel(value, guild)
                resolved.setdefault("channels", {})[str(ch.id)] = ch.payload(self.users) | {
                    "permissions": str(EVERYONE_PERMISSIONS)
                }
                value = str(ch.id)
            elif t == 4:
                value = int(value)
            elif t == 10:
                value = float(value)
            elif t == 5:
                value = bool(value)
            elif t == 3:
                value = str(value)
            choices = opt.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise FakeDiscordError(
                    f"{value!r} is not a choice of {key!r}: {[c['value'] for c in choices]}"
                )
            out.append({"name": key, "type": t, "value": value})
        return out

    async def _send_interaction(
        self,
        itype: int,
        user: UserRef,
        g: Guild | None,
        ch: Channel,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        message_id: int | None = None,
    ) -> InteractionRecord:
        u = self.user(user)
        iid = snowflake()
        token = f"aW50ZXJhY3Rpb24{iid}{secrets.token_urlsafe(24)}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "token": token,
            "version": 1,
            "data": data,
            "locale": u.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "channel_id": str(ch.id),
            "channel": ch.payload(self.users),
        }
        if g is not None:
            if u.id not in g.member_ids:
                raise FakeDiscordError(f"{u.username} is not a member of {g.name}")
            payload |= {
                "guild_id": str(g.id),
                "guild": g.partial(),
                "guild_locale": "en-US",
                "member": g.member_payload(u, with_permissions=True),
                "context": 0,
                "authorizing_integration_owners": {"0": str(g.id)},
            }
        else:
            payload |= {
                "user": u.payload(),
                "context": 1,
                "authorizing_integration_owners": {"0": "0"},
            }
        if message is not None:
            payload["message"] = message
        record = InteractionRecord(
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            user_id=u.id,
            guild_id=g.id if g else None,
            channel_id=ch.id,
            message_id=message_id,
        )
        self.interactions[iid] = record
        self._by_token[token] = record
        await self._dispatch("INTERACTION_CREATE", payload)
        return record

    # ================================================================== gateway

    def _require_conn(self) -> GatewayConnection:
        conn = self._conn
        if conn is None or conn.ws.closed or not conn.identified:
            raise FakeDiscordError(
                "the bot is not connected to the fake gateway\n" + self.summary()
            )
        return conn

    async def _dispatch(
        self,
        event: str,
        data: Any,
        *,
        respect_intents: bool = True,
        intent: int = 0,
        required: bool = True,
    ) -> None:
        connected = self._conn is not None and not self._conn.ws.closed and self._conn.identified
        if not connected and not required:
            self.dropped_events.append((event, "no gateway connection"))
            return
        if not connected:
            # A reconnect may be in progress: give it a moment.
            with contextlib.suppress(FakeDiscordError):
                await self.wait_for(
                    lambda: (
                        self._conn is not None
                        and not self._conn.ws.closed
                        and self._conn.identified
                    ),
                    5.0,
                    "a gateway connection",
                )
        conn = self._require_conn()
        if respect_intents and intent and not conn.intents & intent:
            self.dropped_events.append(
                (event, f"intent bit {intent.bit_length() - 1} not requested")
            )
            return
        await conn.send(0, data, event)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws)
        await conn.send(
            10, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
        )
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        await self._on_gateway_payload(conn, json.loads(msg.data))
                    except Exception:
                        self.errors.append(f"gateway: {traceback.format_exc()}")
                        raise
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            # The code of whoever closed first: ours (4004, 4014) or the bot's.
            conn.closed_code = conn.closed_code or ws.close_code
            self.close_codes.append(conn.closed_code)
            self._notify()
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        self.gateway_received.append((op, d))
        if op == 1:
            await conn.send(11)
        elif op == 2:
            await self._on_identify(conn, d)
        elif op == 6:
            if d.get("session_id") in self._sessions and (
                self.token is None or d.get("token") == self.token
            ):
                conn.session_id = d["session_id"]
                conn.intents = self.identify["intents"] if self.identify else 0
                conn.seq = d.get("seq") or 0
                conn.identified = True
                self._conn = conn
                await conn.send(0, {"_trace": ["fake-gateway"]}, "RESUMED")
                self.resumes += 1
            else:
                await conn.send(9, False)
        elif op == 8:
            g = self.guilds.get(int(d["guild_id"]))
            members = [g.member_payload(self.users[m]) for m in g.member_ids] if g else []
            await conn.send(
                0,
                {
                    "guild_id": d["guild_id"],
                    "members": members,
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "nonce": d.get("nonce"),
                },
                "GUILD_MEMBERS_CHUNK",
            )
        self._notify()

    async def _on_identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        self.identify = d
        if self.token is not None and d.get("token") != self.token:
            conn.closed_code = 4004
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(d.get("intents", 0))
        for name, bit in PRIVILEGED_INTENTS.items():
            if intents & bit and name not in self.privileged_intents:
                self.problems.append(
                    f"IDENTIFY asked for the privileged intent {name!r}, which is not enabled"
                )
                conn.closed_code = 4014
                await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
        conn.intents = intents
        conn.session_id = uuid.uuid4().hex
        conn.identified = True
        self._sessions.add(conn.session_id)
        self._conn = conn
        await conn.send(
            0,
            {
                "v": 10,
                "user": self.bot_user.payload() | {"verified": True, "mfa_enabled": False},
                "session_id": conn.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds.values()],
                "application": {"id": str(self.app_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
                "auth": {},
                "user_settings": {},
                "guild_join_requests": [],
                "_trace": ["fake-gateway"],
            },
            "READY",
        )
        for g in self.guilds.values():
            await conn.send(0, self._guild_create(g), "GUILD_CREATE")
        self._ready.set()

    def _guild_create(self, g: Guild) -> dict[str, Any]:
        return {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(g.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [g.everyone_role()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "joined_at": g.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(g.member_ids),
            "members": [g.member_payload(self.users[m]) for m in g.member_ids],
            "channels": [ch.payload(self.users, with_guild_id=False) for ch in g.channels],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }

    # ================================================================== messages (internal)

    def _new_message(
        self,
        ch: Channel,
        author: User,
        payload: Mapping[str, Any],
        uploads: list[Upload],
        *,
        flags: int,
        interaction: InteractionRecord | None = None,
    ) -> dict[str, Any]:
        mid = snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(ch.id),
            "author": author.payload(),
            "content": "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": flags,
            # test-only
            "ephemeral": bool(flags & FLAG_EPHEMERAL),
            "allowed_mentions": payload.get("allowed_mentions"),
            "history": [],
            "deleted": False,
        }
        if ch.guild_id is not None:
            msg["guild_id"] = str(ch.guild_id)
        if author.bot:
            msg["application_id"] = str(self.app_id)
        if interaction is not None:
            msg["webhook_id"] = str(self.app_id)
            data = interaction.payload.get("data", {})
            msg["type"] = (
                {1: 20, 2: 23, 3: 23}.get(data.get("type", 0), 0) if interaction.type == 2 else 0
            )
            msg["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users[interaction.user_id].payload(),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
                **({"name": data["name"]} if "name" in data else {}),
            }
        if "message_reference" in payload and payload["message_reference"]:
            ref = dict(payload["message_reference"])
            ref.setdefault("channel_id", str(ch.id))
            msg["message_reference"] = ref
            msg["type"] = 19
            if ref.get("message_id") and int(ref["message_id"]) in self.messages:
                msg["referenced_message"] = self._api_message(self.messages[int(ref["message_id"])])
        self._apply_content(msg, payload, uploads, new=True)
        self.messages[mid] = msg
        return msg

    def _apply_content(
        self, msg: dict[str, Any], payload: Mapping[str, Any], uploads: list[Upload], *, new: bool
    ) -> None:
        for key in ("content", "embeds", "components", "poll", "sticker_ids"):
            if key in payload:
                value = payload[key]
                if key == "content":
                    value = value or ""
                elif key in ("embeds", "components"):
                    value = copy.deepcopy(value or [])
                msg[key] = value
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None and not new:
            keep = msg["flags"] & ~(FLAG_IS_COMPONENTS_V2 | 4)
            msg["flags"] = keep | (int(payload["flags"]) & (FLAG_IS_COMPONENTS_V2 | 4))
        uploaded = {u.index: u for u in uploads}
        if "attachments" in payload and payload["attachments"] is not None:
            existing = {a["id"]: a for a in msg["attachments"]}
            atts = []
            for i, entry in enumerate(payload["attachments"]):
                key = int(entry.get("id", i))
                if key in uploaded:
                    atts.append(self._store_upload(msg, uploaded.pop(key), entry))
                elif str(entry.get("id")) in existing:
                    atts.append(existing[str(entry["id"])])
            atts.extend(self._store_upload(msg, u, {}) for u in uploaded.values())
            msg["attachments"] = atts
        elif uploads:
            msg["attachments"] = list(msg["attachments"]) + [
                self._store_upload(msg, u, {}) for u in uploads
            ]
        by_name = {a["filename"]: a for a in msg["attachments"]}
        for embed in msg["embeds"]:
            for slot in ("image", "thumbnail"):
                url = (embed.get(slot) or {}).get("url", "")
                if url.startswith("attachment://") and url[len("attachment://") :] in by_name:
                    att = by_name[url[len("attachment://") :]]
                    embed[slot] = dict(embed[slot]) | {
                        "url": att["url"],
                        "proxy_url": att["proxy_url"],
                    }
            embed.setdefault("type", "rich")
        _number_components(msg["components"])

    def _store_upload(
        self, msg: dict[str, Any], up: Upload, entry: Mapping[str, Any]
    ) -> dict[str, Any]:
        filename = entry.get("filename") or up.filename
        att = self.register_attachment(
            filename, up.data, up.content_type, channel_id=int(msg["channel_id"])
        )
        if entry.get("description"):
            att["description"] = entry["description"]
        if msg["ephemeral"]:
            att["ephemeral"] = True
        return att

    def _edit_message(
        self, msg: dict[str, Any], payload: Mapping[str, Any], uploads: list[Upload]
    ) -> None:
        msg["history"].append(
            {
                k: copy.deepcopy(msg[k])
                for k in ("content", "embeds", "components", "attachments", "flags")
            }
        )
        self._apply_content(msg, payload, uploads, new=False)
        msg["edited_timestamp"] = iso_now()

    def _api_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in msg.items() if k not in TEST_ONLY_KEYS}
        out["attachments"] = [_public_attachment(a) for a in msg["attachments"]]
        mid = int(msg["id"])
        reactions = []
        for (m, emoji), users in self._reactors.items():
            if m == mid and users:
                reactions.append(
                    {
                        "emoji": _emoji_payload(emoji),
                        "count": len(users),
                        "count_details": {"burst": 0, "normal": len(users)},
                        "burst_colors": [],
                        "me": self.bot_user.id in users,
                        "me_burst": False,
                        "burst_me": False,
                        "burst_count": 0,
                    }
                )
        out["reactions"] = reactions
        return out

    def _strip_content(self, data: dict[str, Any]) -> dict[str, Any]:
        return data | {"content": "", "embeds": [], "attachments": [], "components": []}

    async def _dispatch_message_event(self, event: str, msg: dict[str, Any]) -> None:
        if msg["ephemeral"]:
            return
        ch = self.channels[int(msg["channel_id"])]
        data = self._api_message(msg)
        in_guild = ch.guild_id is not None
        if in_guild:
            g = self.guilds[ch.guild_id]  # type: ignore[index]
            author = self.users.get(int(msg["author"]["id"]))
            if author is not None and author.id in g.member_ids:
                data["member"] = g.member_payload(author, with_user=False)
        intent = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
        conn = self._conn
        if (
            conn is not None
            and in_guild
            and not conn.intents & INTENT_MESSAGE_CONTENT
            and msg["author"]["id"] != str(self.bot_user.id)
            and not any(m["id"] == str(self.bot_user.id) for m in msg["mentions"])
        ):
            data = self._strip_content(data)
        await self._dispatch(event, data, intent=intent, required=not msg["author"].get("bot"))

    async def _react(self, user: User, msg: dict[str, Any], emoji: str, *, add: bool) -> None:
        mid = int(msg["id"])
        users = self._reactors.setdefault((mid, emoji), [])
        if add and user.id in users or not add and user.id not in users:
            return  # Discord sends no event for a no-op
        (users.append if add else users.remove)(user.id)
        ch = self.channels[int(msg["channel_id"])]
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(ch.id),
            "message_id": str(mid),
            "emoji": _emoji_payload(emoji),
            "burst": False,
            "type": 0,
        }
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        if add:
            data["message_author_id"] = msg["author"]["id"]
            data["burst_colors"] = []
            if ch.guild_id is not None:
                data["member"] = self.guilds[ch.guild_id].member_payload(user)
        intent = (
            INTENT_GUILD_MESSAGE_REACTIONS
            if ch.guild_id is not None
            else INTENT_DIRECT_MESSAGE_REACTIONS
        )
        await self._dispatch(
            "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE",
            data,
            intent=intent,
            required=not user.bot,
        )
        self._notify()

    # ================================================================== HTTP plumbing

    def _build_routes(
        self,
    ) -> list[tuple[str, re.Pattern[str], Callable[..., Awaitable[web.StreamResponse]]]]:
        S = r"(\d+)"
        T = r"([^/]+)"
        table = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_app),
            ("GET", r"/applications/@me", self._get_app),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", rf"/applications/{S}/commands", self._get_commands),
            ("PUT", rf"/applications/{S}/commands", self._put_commands),
            ("GET", rf"/applications/{S}/guilds/{S}/commands", self._get_commands),
            ("PUT", rf"/applications/{S}/guilds/{S}/commands", self._put_commands),
            ("POST", rf"/interactions/{S}/{T}/callback", self._interaction_callback),
            ("POST", rf"/webhooks/{S}/{T}", self._followup),
            ("GET", rf"/webhooks/{S}/{T}/messages/(@original|\d+)", self._webhook_message),
            ("PATCH", rf"/webhooks/{S}/{T}/messages/(@original|\d+)", self._webhook_message),
            ("DELETE", rf"/webhooks/{S}/{T}/messages/(@original|\d+)", self._webhook_message),
            ("GET", rf"/channels/{S}", self._get_channel),
            ("POST", rf"/channels/{S}/typing", self._typing),
            ("GET", rf"/channels/{S}/messages", self._list_messages),
            ("POST", rf"/channels/{S}/messages", self._create_message),
            ("GET", rf"/channels/{S}/messages/{S}", self._channel_message),
            ("PATCH", rf"/channels/{S}/messages/{S}", self._channel_message),
            ("DELETE", rf"/channels/{S}/messages/{S}", self._channel_message),
            ("PUT", rf"/channels/{S}/messages/{S}/reactions/{T}/@me", self._own_reaction),
            ("DELETE", rf"/channels/{S}/messages/{S}/reactions/{T}/@me", self._own_reaction),
            ("GET", rf"/channels/{S}/messages/{S}/reactions/{T}", self._reaction_users),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", rf"/users/{S}", self._get_user),
            ("GET", rf"/guilds/{S}", self._get_guild),
            ("GET", rf"/guilds/{S}/channels", self._get_guild_channels),
            ("GET", rf"/guilds/{S}/members/{S}", self._get_member),
        ]
        return [(m, re.compile(p + "$"), h) for m, p, h in table]

    def _route(
        self, method: str, path: str
    ) -> tuple[Callable[..., Awaitable[web.StreamResponse]], re.Match[str]] | None:
        for route_method, pattern, handler in self._routes:
            m = pattern.match(path)
            if m and route_method == method:
                return handler, m
        return None

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        entry: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "query": dict(request.query),
            "status": None,
        }
        self.requests.append(entry)
        try:
            found = self._route(request.method, path)
            if found is None:
                self.unknown_routes.append(f"{request.method} {path}")
                raise HTTPError(404, "Unknown", 0)
            handler, m = found
            if not (path.startswith("/interactions/") or path.startswith("/webhooks/")):
                if (
                    self.token is not None
                    and request.headers.get("Authorization") != f"Bot {self.token}"
                ):
                    raise HTTPError(401, "401: Unauthorized", 0)
            payload, uploads = await _read_body(request)
            entry["json"] = payload
            response = await handler(request, m, payload, uploads)
        except HTTPError as exc:
            body: dict[str, Any] = {"message": exc.message, "code": exc.code}
            if exc.errors:
                body["errors"] = exc.errors
            response = _json(body, exc.status)
        except Exception:
            self.errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            # 400, not 500: discord.py retries 5xx with sleeps, which would only slow the test.
            response = _json(
                {"message": "fake Discord internal error (see fake.errors)", "code": 0}, 400
            )
        entry["status"] = response.status
        self._notify()
        return response

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        key = "/".join(quote(part) for part in tail.split("/"))
        found = self._cdn.get(key) or self._cdn.get(tail)
        self.requests.append(
            {
                "method": request.method,
                "path": "/cdn/" + tail,
                "query": {},
                "status": 200 if found else 404,
            }
        )
        if found is None:
            return web.Response(status=404, text="Not found")
        data, ctype = found
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        self.unknown_routes.append(f"{request.method} {request.path}")
        self.requests.append(
            {"method": request.method, "path": request.path, "query": {}, "status": 404}
        )
        self._notify()
        return _json({"message": "Unknown", "code": 0}, 404)

    # ================================================================== REST handlers

    async def _get_me(self, request, m, payload, uploads):
        return _json(
            self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US"}
        )

    async def _get_app(self, request, m, payload, uploads):
        return _json(
            {
                "id": str(self.app_id),
                "name": self.bot_user.global_name,
                "description": "Earworm under test",
                "icon": None,
                "cover_image": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner_user.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "rpc_origins": [],
                "terms_of_service_url": None,
                "privacy_policy_url": None,
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "install_params": None,
                "custom_install_url": None,
                "role_connections_verification_url": None,
                "integration_types_config": {"0": {}},
                "approximate_guild_count": len(self.guilds),
                "approximate_user_install_count": 0,
                "bot": self.bot_user.payload(),
                "guild_id": None,
                "primary_sku_id": None,
                "slug": None,
            }
        )

    async def _get_gateway(self, request, m, payload, uploads):
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    def _scope(self, m: re.Match[str]) -> int | None:
        if int(m.group(1)) != self.app_id:
            raise HTTPError(404, "Unknown Application", 10002)
        if m.lastindex and m.lastindex >= 2:
            gid = int(m.group(2))
            if gid not in self.guilds:
                raise HTTPError(403, "Missing Access", 50001)
            return gid
        return None

    async def _get_commands(self, request, m, payload, uploads):
        return _json(self.commands_by_scope.get(self._scope(m), []))

    async def _put_commands(self, request, m, payload, uploads):
        scope = self._scope(m)
        if not isinstance(payload, list):
            raise HTTPError(400, "Invalid Form Body", 50035)
        previous = {(c["name"], c.get("type", 1)): c for c in self.commands_by_scope.get(scope, [])}
        out = []
        for cmd in payload:
            problem = validate_command(cmd)
            if problem:
                self.problems.append(f"PUT commands: {problem}")
                raise HTTPError(
                    400,
                    "Invalid Form Body",
                    50035,
                    {"_errors": [{"code": "INVALID", "message": problem}]},
                )
            old = previous.get((cmd["name"], cmd.get("type", 1)))
            record = {
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "options": [],
                **cmd,
                "id": old["id"] if old else str(snowflake()),
                "application_id": str(self.app_id),
                "version": str(snowflake()),
            }
            if scope is not None:
                record["guild_id"] = str(scope)
            out.append(record)
        self.commands_by_scope[scope] = out
        self.sync_log.append(
            {"scope": scope, "names": [c["name"] for c in out], "payload": payload}
        )
        return _json(out)

    def _interaction(self, iid: int | None, token: str) -> InteractionRecord:
        record = self._by_token.get(token)
        if record is None or (iid is not None and record.id != iid):
            raise HTTPError(404, "Unknown interaction", 10062)
        return record

    def _webhook_interaction(self, app_id: int, token: str) -> InteractionRecord:
        record = self._by_token.get(token)
        if record is None or app_id != self.app_id:
            raise HTTPError(404, "Unknown Webhook", 10015)
        if not record.acknowledged:
            self.problems.append(
                f"interaction {record.id}: followup/edit before any response (Unknown Webhook)"
            )
            raise HTTPError(404, "Unknown Webhook", 10015)
        elapsed = time.monotonic() - record.created_at
        lifetime = self.interaction_token_lifetime_s
        if lifetime is not None and elapsed > lifetime:
            self.problems.append(
                f"interaction {record.id}: token used {elapsed:.2f} s after the interaction "
                f"(it lives {lifetime:g} s); post in the channel instead"
            )
            raise HTTPError(401, "Invalid Webhook Token", 50027)
        return record

    async def _interaction_callback(self, request, m, payload, uploads):
        record = self._interaction(int(m.group(1)), m.group(2))
        elapsed = time.monotonic() - record.created_at
        if record.acknowledged:
            self.problems.append(f"interaction {record.id}: acknowledged twice")
            raise HTTPError(400, "Interaction has already been acknowledged.", 40060)
        if self.response_deadline_s is not None and elapsed > self.response_deadline_s:
            self.problems.append(
                f"interaction {record.id}: first response after {elapsed:.2f} s (limit {self.response_deadline_s:g} s); defer sooner"
            )
            raise HTTPError(404, "Unknown interaction", 10062)
        ctype = int(payload.get("type", 0))
        data = payload.get("data") or {}
        ch = self.channels[record.channel_id]
        message: dict[str, Any] | None = None
        if ctype in (4, 5):
            if record.type not in (2, 3, 5):
                raise HTTPError(
                    400, "Interaction callback type is invalid for this interaction", 50035
                )
            flags = int(data.get("flags") or 0)
            if ctype == 4:
                self._validate_or_raise(data, uploads, f"interaction {record.id} response")
                message = self._new_message(
                    ch,
                    self.bot_user,
                    data,
                    uploads,
                    flags=flags & ~FLAG_LOADING,
                    interaction=record,
                )
            else:
                message = self._new_message(
                    ch,
                    self.bot_user,
                    {},
                    [],
                    flags=(flags & FLAG_EPHEMERAL) | FLAG_LOADING,
                    interaction=record,
                )
                record._pending_defer = True
            record.original = message
            await self._dispatch_message_event("MESSAGE_CREATE", message)
        elif ctype in (6, 7):
            if record.type not in (3, 5) or record.message_id is None:
                raise HTTPError(
                    400, "Interaction callback type is invalid for this interaction", 50035
                )
            message = self.messages[record.message_id]
            record.original = message
            if ctype == 7:
                self._validate_or_raise(data, uploads, f"interaction {record.id} update", edit=True)
                self._edit_message(message, data, uploads)
                await self._dispatch_message_event("MESSAGE_UPDATE", message)
        elif ctype == 8:
            if record.type != 4:
                raise HTTPError(
                    400, "Interaction callback type is invalid for this interaction", 50035
                )
            record.choices = data.get("choices", [])
        elif ctype == 9:
            if record.type == 5:
                raise HTTPError(
                    400, "Interaction callback type is invalid for this interaction", 50035
                )
            record.modal = data
        else:
            raise HTTPError(400, f"Unsupported interaction callback type {ctype}", 50035)
        record.callbacks.append(
            {
                "type": ctype,
                "data": data,
                "files": [(u.filename, u.data) for u in uploads],
                "at": elapsed,
                "message": message,
            }
        )
        body: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.type,
                "activity_instance_id": None,
                "response_message_id": message["id"] if message else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(message and message["ephemeral"]),
            }
        }
        if ctype not in (8, 9):
            body["resource"] = {"type": ctype}
            if message is not None:
                body["resource"]["message"] = self._api_message(message)
        return _json(body)

    async def _followup(self, request, m, payload, uploads):
        record = self._webhook_interaction(int(m.group(1)), m.group(2))
        self._validate_or_raise(payload, uploads, f"interaction {record.id} followup")
        if record._pending_defer and record.original is not None:
            # The first followup after a defer replaces the "thinking" message (same id, same
            # visibility as the defer: the followup's own ephemeral flag is ignored).
            msg = record.original
            record._pending_defer = False
            self._edit_message(msg, payload, uploads)
            msg["flags"] &= ~FLAG_LOADING
            msg["history"].pop()  # the loading placeholder is not a real version
            msg["edited_timestamp"] = None
            await self._dispatch_message_event("MESSAGE_UPDATE", msg)
        else:
            flags = int(payload.get("flags") or 0) & (FLAG_EPHEMERAL | FLAG_IS_COMPONENTS_V2 | 4)
            ch = self.channels[record.channel_id]
            msg = self._new_message(
                ch, self.bot_user, payload, uploads, flags=flags, interaction=record
            )
            await self._dispatch_message_event("MESSAGE_CREATE", msg)
        record.followups.append(msg)
        if request.query.get("wait", "false").lower() in ("true", "1"):
            return _json(self._api_message(msg))
        return _no_content()

    async def _webhook_message(self, request, m, payload, uploads):
        record = self._webhook_interaction(int(m.group(1)), m.group(2))
        which = m.group(3)
        if which == "@original":
            msg = record.original
            if msg is None:
                raise HTTPError(404, "Unknown Message", 10008)
        else:
            msg = next((x for x in record.messages if x["id"] == which), None)
            if msg is None:
                raise HTTPError(404, "Unknown Message", 10008)
        if msg["deleted"]:
            raise HTTPError(404, "Unknown Message", 10008)
        if request.method == "GET":
            return _json(self._api_message(msg))
        if request.method == "DELETE":
            msg["deleted"] = True
            if msg is record.original:
                record._pending_defer = False  # later followups are new messages, own flags
            await self._dispatch_deleted(msg)
            return _no_content()
        self._validate_or_raise(payload, uploads, f"interaction {record.id} edit", edit=True)
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        self._edit_message(msg, payload, uploads)
        if was_loading:
            msg["flags"] &= ~FLAG_LOADING
            msg["history"].pop()
            record._pending_defer = False
        await self._dispatch_message_event("MESSAGE_UPDATE", msg)
        return _json(self._api_message(msg))

    def _channel_or_404(self, cid: int) -> Channel:
        ch = self.channels.get(cid)
        if ch is None:
            raise HTTPError(404, "Unknown Channel", 10003)
        return ch

    async def _get_channel(self, request, m, payload, uploads):
        return _json(self._channel_or_404(int(m.group(1))).payload(self.users))

    async def _typing(self, request, m, payload, uploads):
        self._channel_or_404(int(m.group(1)))
        return _no_content()

    def _visible(self, msg: dict[str, Any] | None, cid: int) -> dict[str, Any]:
        if msg is None or msg["channel_id"] != str(cid) or msg["deleted"] or msg["ephemeral"]:
            raise HTTPError(404, "Unknown Message", 10008)
        return msg

    async def _list_messages(self, request, m, payload, uploads):
        ch = self._channel_or_404(int(m.group(1)))
        limit = int(request.query.get("limit", 50))
        before = int(request.query.get("before", 1 << 63))
        after = int(request.query.get("after", 0))
        msgs = [x for x in self.messages_in(ch) if after < int(x["id"]) < before]
        msgs = sorted(msgs, key=lambda x: int(x["id"]), reverse=True)[:limit]
        return _json([self._api_message(x) for x in msgs])

    async def _create_message(self, request, m, payload, uploads):
        ch = self._channel_or_404(int(m.group(1)))
        self._validate_or_raise(payload, uploads, f"message in #{ch.name}")
        flags = int(payload.get("flags") or 0) & (FLAG_IS_COMPONENTS_V2 | 4)
        msg = self._new_message(ch, self.bot_user, payload, uploads, flags=flags)
        await self._dispatch_message_event("MESSAGE_CREATE", msg)
        return _json(self._api_message(msg))

    async def _channel_message(self, request, m, payload, uploads):
        cid, mid = int(m.group(1)), int(m.group(2))
        self._channel_or_404(cid)
        msg = self._visible(self.messages.get(mid), cid)
        if request.method == "GET":
            return _json(self._api_message(msg))
        is_own = msg["author"]["id"] == str(self.bot_user.id)
        if request.method == "DELETE":
            msg["deleted"] = True
            await self._dispatch_deleted(msg)
            return _no_content()
        if not is_own:
            raise HTTPError(403, "Cannot edit a message authored by another user", 50005)
        self._validate_or_raise(payload, uploads, f"edit of message {mid}", edit=True)
        self._edit_message(msg, payload, uploads)
        await self._dispatch_message_event("MESSAGE_UPDATE", msg)
        return _json(self._api_message(msg))

    async def _dispatch_deleted(self, msg: dict[str, Any]) -> None:
        if msg["ephemeral"]:
            return
        data = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if "guild_id" in msg:
            data["guild_id"] = msg["guild_id"]
        await self._dispatch(
            "MESSAGE_DELETE",
            data,
            intent=INTENT_GUILD_MESSAGES if "guild_id" in msg else INTENT_DIRECT_MESSAGES,
            required=False,
        )

    async def _own_reaction(self, request, m, payload, uploads):
        cid, mid, emoji = int(m.group(1)), int(m.group(2)), m.group(3)
        self._channel_or_404(cid)
        msg = self._visible(self.messages.get(mid), cid)
        if ":" in emoji and not re.match(r"^[^:]+:\d+$", emoji):
            raise HTTPError(400, "Unknown Emoji", 10014)
        await self._react(self.bot_user, msg, emoji, add=request.method == "PUT")
        return _no_content()

    async def _reaction_users(self, request, m, payload, uploads):
        cid, mid, emoji = int(m.group(1)), int(m.group(2)), m.group(3)
        self._visible(self.messages.get(mid), cid)
        return _json([self.users[u].payload() for u in self._reactors.get((mid, emoji), [])])

    async def _create_dm(self, request, m, payload, uploads):
        ch = self.dm_channel(int(payload["recipient_id"]))
        return _json(ch.payload(self.users))

    async def _get_user(self, request, m, payload, uploads):
        u = self.users.get(int(m.group(1)))
        if u is None:
            raise HTTPError(404, "Unknown User", 10013)
        return _json(u.payload())

    def _guild_or_404(self, gid: int) -> Guild:
        g = self.guilds.get(gid)
        if g is None:
            raise HTTPError(404, "Unknown Guild", 10004)
        return g

    async def _get_guild(self, request, m, payload, uploads):
        g = self._guild_or_404(int(m.group(1)))
        data = self._guild_create(g)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            data.pop(key, None)
        return _json(data)

    async def _get_guild_channels(self, request, m, payload, uploads):
        g = self._guild_or_404(int(m.group(1)))
        return _json([ch.payload(self.users) for ch in g.channels])

    async def _get_member(self, request, m, payload, uploads):
        g = self._guild_or_404(int(m.group(1)))
        uid = int(m.group(2))
        if uid not in g.member_ids:
            raise HTTPError(404, "Unknown Member", 10007)
        return _json(g.member_payload(self.users[uid]))

    # ================================================================== validation

    def _validate_or_raise(
        self, payload: Mapping[str, Any], uploads: list[Upload], what: str, *, edit: bool = False
    ) -> None:
        problem = validate_message(payload, uploads, edit=edit)
        if problem:
            self.problems.append(f"{what}: {problem}")
            raise HTTPError(
                400,
                "Invalid Form Body",
                50035,
                {"_errors": [{"code": "INVALID", "message": problem}]},
            )


# ====================================================================== helpers


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
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


def _public_attachment(att: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in att.items() if k != "data"}


def _emoji_payload(emoji: str) -> dict[str, Any]:
    if ":" in emoji:
        name, _, eid = emoji.rpartition(":")
        return {"id": eid, "name": name, "animated": False}
    return {"id": None, "name": emoji}


def _guess_type(filename: str) -> str:
    import mimetypes

    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _find_component(
    components: Iterable[Mapping[str, Any]], custom_id: str
) -> Mapping[str, Any] | None:
    return next((c for c in walk_components(components) if c.get("custom_id") == custom_id), None)


def _custom_ids(components: Iterable[Mapping[str, Any]]) -> list[str]:
    return [c["custom_id"] for c in walk_components(components) if "custom_id" in c]


def _number_components(components: list[dict[str, Any]]) -> None:
    n = 0
    for c in walk_components(components):
        n += 1
        if isinstance(c, dict) and not c.get("id"):
            c["id"] = n
