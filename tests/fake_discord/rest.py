"""The fake REST API's handlers: the application and its commands, interaction callbacks,
followups and webhook edits (with Discord's deadlines and token lifetime), channels, messages,
reactions, users and guilds; every message validated against Discord's rules."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from tests.fake_discord.interactions import Interactions
from tests.fake_discord.models import (
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    Channel,
    Guild,
    snowflake,
)
from tests.fake_discord.records import (
    HTTPError,
    InteractionRecord,
    Upload,
    json_response,
    no_content,
)
from tests.fake_discord.rules import validate_command, validate_message

__all__ = ["RestHandlers"]


class RestHandlers(Interactions):
    """One method per REST route (the table is in ``server.FakeDiscord._build_routes``)."""

    async def _get_me(self, request, m, payload, uploads):
        return json_response(
            self.bot_user.payload() | {"verified": True, "mfa_enabled": False, "locale": "en-US"}
        )

    async def _get_app(self, request, m, payload, uploads):
        return json_response(
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
        return json_response(
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
        return json_response(self.commands_by_scope.get(self._scope(m), []))

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
        return json_response(out)

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
        return json_response(body)

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
            return json_response(self._api_message(msg))
        return no_content()

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
            return json_response(self._api_message(msg))
        if request.method == "DELETE":
            msg["deleted"] = True
            if msg is record.original:
                record._pending_defer = False  # later followups are new messages, own flags
            await self._dispatch_deleted(msg)
            return no_content()
        self._validate_or_raise(payload, uploads, f"interaction {record.id} edit", edit=True)
        was_loading = bool(msg["flags"] & FLAG_LOADING)
        self._edit_message(msg, payload, uploads)
        if was_loading:
            msg["flags"] &= ~FLAG_LOADING
            msg["history"].pop()
            record._pending_defer = False
        await self._dispatch_message_event("MESSAGE_UPDATE", msg)
        return json_response(self._api_message(msg))

    def _channel_or_404(self, cid: int) -> Channel:
        ch = self.channels.get(cid)
        if ch is None:
            raise HTTPError(404, "Unknown Channel", 10003)
        return ch

    async def _get_channel(self, request, m, payload, uploads):
        return json_response(self._channel_or_404(int(m.group(1))).payload(self.users))

    async def _typing(self, request, m, payload, uploads):
        self._channel_or_404(int(m.group(1)))
        return no_content()

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
        return json_response([self._api_message(x) for x in msgs])

    async def _create_message(self, request, m, payload, uploads):
        ch = self._channel_or_404(int(m.group(1)))
        self._validate_or_raise(payload, uploads, f"message in #{ch.name}")
        flags = int(payload.get("flags") or 0) & (FLAG_IS_COMPONENTS_V2 | 4)
        msg = self._new_message(ch, self.bot_user, payload, uploads, flags=flags)
        await self._dispatch_message_event("MESSAGE_CREATE", msg)
        return json_response(self._api_message(msg))

    async def _channel_message(self, request, m, payload, uploads):
        cid, mid = int(m.group(1)), int(m.group(2))
        self._channel_or_404(cid)
        msg = self._visible(self.messages.get(mid), cid)
        if request.method == "GET":
            return json_response(self._api_message(msg))
        is_own = msg["author"]["id"] == str(self.bot_user.id)
        if request.method == "DELETE":
            msg["deleted"] = True
            await self._dispatch_deleted(msg)
            return no_content()
        if not is_own:
            raise HTTPError(403, "Cannot edit a message authored by another user", 50005)
        self._validate_or_raise(payload, uploads, f"edit of message {mid}", edit=True)
        self._edit_message(msg, payload, uploads)
        await self._dispatch_message_event("MESSAGE_UPDATE", msg)
        return json_response(self._api_message(msg))

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
        return no_content()

    async def _reaction_users(self, request, m, payload, uploads):
        cid, mid, emoji = int(m.group(1)), int(m.group(2)), m.group(3)
        self._visible(self.messages.get(mid), cid)
        return json_response(
            [self.users[u].payload() for u in self._reactors.get((mid, emoji), [])]
        )

    async def _create_dm(self, request, m, payload, uploads):
        ch = self.dm_channel(int(payload["recipient_id"]))
        return json_response(ch.payload(self.users))

    async def _get_user(self, request, m, payload, uploads):
        u = self.users.get(int(m.group(1)))
        if u is None:
            raise HTTPError(404, "Unknown User", 10013)
        return json_response(u.payload())

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
        return json_response(data)

    async def _get_guild_channels(self, request, m, payload, uploads):
        g = self._guild_or_404(int(m.group(1)))
        return json_response([ch.payload(self.users) for ch in g.channels])

    async def _get_member(self, request, m, payload, uploads):
        g = self._guild_or_404(int(m.group(1)))
        uid = int(m.group(2))
        if uid not in g.member_ids:
            raise HTTPError(404, "Unknown Member", 10007)
        return json_response(g.member_payload(self.users[uid]))

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
