"""Messages inside the fake: creating and editing them (uploads, attachments served on the CDN,
embeds pointing at them), their API shape, and the gateway events they cause (with the message
content intent applied); reactions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tests.fake_discord.gateway import Gateway
from tests.fake_discord.models import (
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    INTENT_DIRECT_MESSAGE_REACTIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    Channel,
    User,
    iso_now,
    snowflake,
)
from tests.fake_discord.records import (
    TEST_ONLY_KEYS,
    InteractionRecord,
    Upload,
    emoji_payload,
    guess_type,
    number_components,
    public_attachment,
)

__all__ = ["Messages"]


class Messages(Gateway):
    """Message records, attachments on the fake CDN, and reactions."""

    def register_attachment(
        self, filename: str, data: bytes, content_type: str | None = None, *, channel_id: int = 0
    ) -> dict[str, Any]:
        """Serve ``data`` on the fake CDN; returns a Discord attachment dict (plus ``data``)
        for ``slash(options=...)``, ``post_user_message(attachments=...)`` and the like."""
        att_id = snowflake()
        path = f"attachments/{channel_id or 0}/{att_id}/{quote(filename)}"
        ctype = content_type or guess_type(filename)
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
        number_components(msg["components"])

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
        out["attachments"] = [public_attachment(a) for a in msg["attachments"]]
        mid = int(msg["id"])
        reactions = []
        for (m, emoji), users in self._reactors.items():
            if m == mid and users:
                reactions.append(
                    {
                        "emoji": emoji_payload(emoji),
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
            "emoji": emoji_payload(emoji),
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
