"""Errors after a public ``defer()`` stay private (issue 9, item 13).

``/catalog stats``, ``/party playlist`` and ``/recommend share:True`` answer in public, so they
defer publicly: everyone in the channel sees "Earworm is thinking…". When the work then fails,
the first followup would *replace* that public placeholder, keeping its visibility whatever its
own ephemeral flag says (the fake Discord does what Discord does), and the whole channel would
read the error. The bot's one error path deletes the placeholder first and answers with an
ephemeral followup.

The failure is real: the database loses its ``likes`` table under the running bot (another
process dropping it), so each command fails inside the service, after its defer.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.seed import seed_catalog

EPHEMERAL = 64


async def private_reply(fake: FakeDiscord, ix: InteractionRecord) -> dict[str, Any]:
    """The reply the user got once the command was over (the placeholder deleted or answered)."""

    def get() -> dict[str, Any] | None:
        original = ix.original
        if original is None or not (original["deleted"] or original["content"]):
            return None
        return next((m for m in ix.messages if m["content"] and not m["deleted"]), None)

    return await fake.wait_for(get, 20, f"the reply to interaction {ix.id}")


async def test_unexpected_errors_after_a_public_defer_stay_private(
    fake_discord, running_bot, earworm_service
):
    fake: FakeDiscord = fake_discord
    guild = fake.guild()
    channel = fake.channel("music")
    alice = fake.user("alice")
    db = earworm_service.db
    tracks = await seed_catalog(earworm_service, guild.id, ["solo_trumpet", "vibe_ace"])
    await earworm_service.like(guild.id, alice.id, tracks["solo_trumpet"].id)
    await db.start_party(guild.id, channel.id, alice.id)  # alice hosts, so she is in it
    running = await running_bot(earworm_service)

    # It works while the database is whole: a public answer.
    ix = await fake.slash(alice, guild, channel, "catalog stats")
    stats = await fake.wait_for_original(ix)
    assert not stats["ephemeral"] and stats["embeds"] and stats in fake.messages_in(channel)
    before = fake.messages_in(channel)

    with sqlite3.connect(db.path) as conn:  # the database breaks under the running bot
        conn.execute("DROP TABLE likes")

    commands: list[tuple[str, dict[str, Any]]] = [
        ("catalog stats", {}),
        ("party playlist", {}),
        ("recommend", {"share": True}),
    ]
    with running.expecting_errors():
        for name, options in commands:
            ix = await fake.slash(alice, guild, channel, name, options=options)
            reply = await private_reply(fake, ix)
            response = ix.response
            assert response is not None and response["type"] == 5, name  # deferred...
            assert not int(response["data"].get("flags") or 0) & EPHEMERAL, name  # ...publicly
            assert ix.original is not None and ix.original["deleted"], name  # placeholder gone
            assert reply is not ix.original and reply["flags"] & EPHEMERAL, (name, reply)
            assert reply["content"], name
            # Nothing new from the bot for the channel to see.
            assert fake.messages_in(channel) == before, (name, fake.messages_in(channel))
        running.errors.clear()  # the failures were logged with their tracebacks, as they should
