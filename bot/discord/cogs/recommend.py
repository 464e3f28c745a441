"""``/recommend``: a playlist from your ❤️s, drawn from this server's catalog.

The service does the work (its numpy runs in a thread) and records what it recommended, so the
next ``/recommend`` brings new tracks while the catalog has them. The answer is private unless
``share`` is set.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.playlist_embeds import recommendation_messages, safe_text
from bot.discord.replies import services_of

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

MAX_COUNT = 25
DEFAULT_COUNT = 10


class Recommend(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="recommend", description="A playlist from your ❤️s, drawn from this server's music"
    )
    @app_commands.describe(
        count=f"How many tracks (1 to {MAX_COUNT}, default {DEFAULT_COUNT})",
        share="Post it for everyone in this channel (default: only you see it)",
    )
    @app_commands.guild_only()
    @app_commands.checks.cooldown(3, 10.0, key=lambda i: (i.guild_id, i.user.id))
    async def recommend(
        self,
        interaction: discord.Interaction,
        count: app_commands.Range[int, 1, MAX_COUNT] = DEFAULT_COUNT,
        share: bool = False,
    ) -> None:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        await interaction.response.defer(ephemeral=not share, thinking=True)
        playlist = await services_of(self.bot).recommend(
            interaction.guild_id, interaction.user.id, count
        )
        who = safe_text(interaction.user.display_name, 40, fallback="you")
        log.info(
            "recommend: %d picks for user %s in guild %s (cold start: %s)",
            len(playlist.result.picks),
            interaction.user.id,
            interaction.guild_id,
            playlist.result.cold_start,
        )
        for embeds in recommendation_messages(playlist, who):
            await interaction.followup.send(
                embeds=embeds,
                ephemeral=not share,
                allowed_mentions=discord.AllowedMentions.none(),
            )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Recommend(bot))
