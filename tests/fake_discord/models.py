"""Entities of the fake Discord (users, guilds, channels) and their API payloads."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

#: What @everyone may do in the fake guilds (and the bot's own permissions).
EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

# Gateway intent bits.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = {
    "members": INTENT_GUILD_MEMBERS,
    "presences": INTENT_GUILD_PRESENCES,
    "message_content": INTENT_MESSAGE_CONTENT,
}

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_IS_COMPONENTS_V2 = 1 << 15

_lock = threading.Lock()
_counter = itertools.count()
_last = 0


def snowflake() -> int:
    """A new, strictly increasing Discord-style ID (time-based)."""
    global _last
    with _lock:
        candidate = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0xFFF)
        _last = max(_last + 1, candidate)
        return _last


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class User:
    username: str
    id: int = 0
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"

    def __post_init__(self) -> None:
        if not self.id:
            self.id = snowflake()

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name
            if self.global_name is not None
            else self.username.title(),
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
            "flags": 0,
            "bot": self.bot,
            "system": False,
        }


@dataclass
class Channel:
    name: str
    id: int = 0
    guild_id: int | None = None
    type: int = 0  # 0 guild text, 1 DM
    position: int = 0
    topic: str | None = None
    recipient_id: int | None = None  # DM channels

    def __post_init__(self) -> None:
        if not self.id:
            self.id = snowflake()

    def payload(
        self, users: dict[int, User] | None = None, *, with_guild_id: bool = True
    ) -> dict[str, Any]:
        if self.type == 1:
            recipients = []
            if users is not None and self.recipient_id in users:
                recipients = [users[self.recipient_id].payload()]
            return {
                "id": str(self.id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": recipients,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": self.topic,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if with_guild_id and self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class Guild:
    name: str
    id: int = 0
    channels: list[Channel] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)
    admin_ids: set[int] = field(default_factory=set)
    owner_id: int = 0
    joined_at: str = field(default_factory=iso_now)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = snowflake()
        for i, ch in enumerate(self.channels):
            ch.guild_id = self.id
            ch.position = i

    def permissions_of(self, user_id: int) -> int:
        if user_id == self.owner_id or user_id in self.admin_ids:
            return ALL_PERMISSIONS
        return EVERYONE_PERMISSIONS

    def everyone_role(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": str(EVERYONE_PERMISSIONS),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def member_payload(
        self, user: User, *, with_permissions: bool = False, with_user: bool = True
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = user.payload()
        if with_permissions:
            data["permissions"] = str(self.permissions_of(user.id))
        return data

    def partial(self) -> dict[str, Any]:
        return {"id": str(self.id), "locale": "en-US", "features": []}
