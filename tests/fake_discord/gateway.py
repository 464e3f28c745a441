"""The fake gateway: HELLO, IDENTIFY (with intents checked), RESUME, heartbeats, member chunks,
and dispatching events the bot's intents cover."""

from __future__ import annotations

import contextlib
import json
import traceback
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from tests.fake_discord.models import PRIVILEGED_INTENTS, Guild
from tests.fake_discord.records import FakeDiscordError, GatewayConnection
from tests.fake_discord.state import FakeDiscordState

__all__ = ["Gateway"]


class Gateway(FakeDiscordState):
    """The gateway websocket and event dispatch."""

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
