"""What a test does as a user: slash and message commands, clicks, modal submits, messages and
reactions; and how each becomes an INTERACTION_CREATE shaped like Discord's."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fake_discord.messages import Messages
from tests.fake_discord.models import EVERYONE_PERMISSIONS, Channel, Guild, snowflake
from tests.fake_discord.records import (
    ChannelRef,
    FakeDiscordError,
    GuildRef,
    InteractionRecord,
    MessageRef,
    UserRef,
    custom_ids,
    find_component,
    public_attachment,
)
from tests.fake_discord.rules import SELECT_TYPES

__all__ = ["Interactions"]


class Interactions(Messages):
    """The test-side actions (see ``server`` for the overview)."""

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
            resolved.setdefault("attachments", {})[str(att["id"])] = public_attachment(att)
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
        component = find_component(msg.get("components", []), custom_id)
        if component is None:
            raise FakeDiscordError(
                f"message {msg['id']} has no component {custom_id!r}; it has "
                f"{custom_ids(msg.get('components', []))}"
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
                resolved.setdefault("attachments", {})[str(att["id"])] = public_attachment(att)
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
