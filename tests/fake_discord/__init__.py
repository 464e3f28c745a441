"""A fake Discord (REST + gateway + CDN on 127.0.0.1) for running the real bot in tests.

See :mod:`tests.fake_discord.server` for the test-side API.
"""

from .models import Channel, Guild, User, snowflake
from .rules import validate_message
from .server import FakeDiscord, FakeDiscordError, InteractionRecord

__all__ = [
    "Channel",
    "FakeDiscord",
    "FakeDiscordError",
    "Guild",
    "InteractionRecord",
    "User",
    "snowflake",
    "validate_message",
]
