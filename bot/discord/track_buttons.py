"""The buttons under a ``/classify`` result, and reading a result's track back from them.

``earworm:like:<track id>`` (❤️ Like) and ``earworm:more:<track id>`` (More like this) are
:class:`discord.ui.DynamicItem` s registered on the bot, so they keep working after a restart on
messages posted before it (their state is all in the custom id). The same ids tell which track
a result is about when someone reacts to it with ❤️.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import discord

from bot.discord.app import EarwormBot
from bot.discord.embeds import similar_embed
from bot.discord.replies import BadRequest, guarded, services_of

LIKE_PREFIX = "earworm:like:"
MORE_PREFIX = "earworm:more:"
LIKE_TEMPLATE = r"earworm:like:(?P<track_id>[0-9]{1,19})"
MORE_TEMPLATE = r"earworm:more:(?P<track_id>[0-9]{1,19})"
_LIKE_RE = re.compile(LIKE_TEMPLATE)

SIMILAR_COUNT = 5


def like_ids_in(components: Iterable[Any]) -> list[int]:
    """The track ids of every Like button (``earworm:like:<id>``) in a message's components."""
    found: list[int] = []
    for component in components:
        children = getattr(component, "children", None)
        if children:
            found += like_ids_in(children)
            continue
        m = _LIKE_RE.fullmatch(getattr(component, "custom_id", None) or "")
        if m and int(m["track_id"]) not in found:
            found.append(int(m["track_id"]))
    return found


def track_id_from_components(components: Iterable[Any]) -> int | None:
    """The track an Earworm message is about: the id of its one Like button; None when it has
    none, or several (a list of tracks: a ❤️ on it can't say which one)."""
    ids = like_ids_in(components)
    return ids[0] if len(ids) == 1 else None


class LikeButton(discord.ui.DynamicItem[discord.ui.Button], template=LIKE_TEMPLATE):
    """❤️ Like: adds the track to the clicker's likes (committed before the reply)."""

    def __init__(self, track_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Like",
                emoji="❤️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{LIKE_PREFIX}{track_id}",
            )
        )
        self.track_id = track_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> LikeButton:
        return cls(int(match["track_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, "button like", lambda: self._like(interaction))

    async def _like(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise BadRequest("Likes belong to a server; use this in one.")
        service = services_of(interaction.client)
        created = await service.like(interaction.guild_id, interaction.user.id, self.track_id)
        client = interaction.client
        likes = client.command_mention("likes") if isinstance(client, EarwormBot) else "`/likes`"
        text = "❤️ Added to your likes." if created else "❤️ It's already in your likes."
        await interaction.response.send_message(f"{text} See them with {likes}.", ephemeral=True)


class MoreLikeThisButton(discord.ui.DynamicItem[discord.ui.Button], template=MORE_TEMPLATE):
    """More like this: the nearest tracks in this server's catalog, privately."""

    def __init__(self, track_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="More like this",
                emoji="🔎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{MORE_PREFIX}{track_id}",
            )
        )
        self.track_id = track_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreLikeThisButton:
        return cls(int(match["track_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, "button more", lambda: self._more(interaction))

    async def _more(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise BadRequest("Catalogs belong to a server; use this in one.")
        service = services_of(interaction.client)
        await interaction.response.defer(ephemeral=True, thinking=True)
        track, hits = await service.more_like(interaction.guild_id, self.track_id, SIMILAR_COUNT)
        await interaction.followup.send(embed=similar_embed(track.title, hits), ephemeral=True)


class TrackView(discord.ui.View):
    """The buttons under a result: ❤️ Like and More like this (persistent, no timeout)."""

    def __init__(self, track_id: int) -> None:
        super().__init__(timeout=None)
        self.add_item(LikeButton(track_id))
        self.add_item(MoreLikeThisButton(track_id))
