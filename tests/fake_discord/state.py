"""The fake Discord's state and its test-side reading: users, guilds, channels, messages and
interactions; waiting for something to happen; inspecting what the bot did.

The layers above it (``gateway``, ``messages``, ``interactions``, ``rest``) add behaviour;
``server.FakeDiscord`` puts them together and serves them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from tests.fake_discord.models import FLAG_LOADING, Channel, Guild, User
from tests.fake_discord.records import (
    ChannelRef,
    FakeDiscordError,
    GatewayConnection,
    GuildRef,
    InteractionRecord,
    MessageRef,
    MiB,
    UserRef,
)

__all__ = ["FakeDiscordState"]


class FakeDiscordState:
    """Everything the fake knows, and the test-side API that reads it (see ``server``)."""

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
        # The REST route table: (method, path pattern, handler); built by FakeDiscord.start.
        self._routes: list[
            tuple[str, re.Pattern[str], Callable[..., Awaitable[web.StreamResponse]]]
        ] = []

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
