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

import re
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fake_discord.records import (
    FakeDiscordError,
    HTTPError,
    InteractionRecord,
    MiB,
    json_response,
    read_body,
)
from tests.fake_discord.rest import RestHandlers

__all__ = ["FakeDiscord", "FakeDiscordError", "InteractionRecord"]


class FakeDiscord(RestHandlers):
    """See the module docstring. ``guilds``: names, dicts (``name``, ``channels``, ``members``,
    ``admins``, ``id``) or :class:`Guild`; ``users``: usernames, dicts or :class:`User`."""

    async def start(self) -> str:
        """Serve on 127.0.0.1 (a free port unless given); returns the API base URL."""
        self._routes = self._build_routes()
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
            payload, uploads = await read_body(request)
            entry["json"] = payload
            response = await handler(request, m, payload, uploads)
        except HTTPError as exc:
            body: dict[str, Any] = {"message": exc.message, "code": exc.code}
            if exc.errors:
                body["errors"] = exc.errors
            response = json_response(body, exc.status)
        except Exception:
            self.errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            # 400, not 500: discord.py retries 5xx with sleeps, which would only slow the test.
            response = json_response(
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
        return json_response({"message": "Unknown", "code": 0}, 404)
