"""``/help``: what Earworm does and how to use it (an ephemeral embed)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.embed_colours import HEART_COLOUR

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

# (field title, text); ``{name}`` placeholders become clickable command mentions once synced.
SECTIONS: list[tuple[str, str]] = [
    (
        "What a track sounds like",
        "{classify} with an audio file or a link: genre breakdown over time, mood and era tags, "
        "tempo and key. Or right-click a message with music and pick Earworm under **Apps**.",
    ),
    (
        "Recommendations",
        "{recommend} builds you a playlist from your ❤️s, from everything this server has shared. "
        "{likes} shows what you've liked.",
    ),
    (
        "❤️ reactions",
        "React ❤️ to a message with a track to add it to your taste; remove the reaction to undo.",
    ),
    (
        "Listening parties",
        "{party_start} opens a party in this channel and people join with the button; "
        "{party_playlist} blends everyone's taste into one playlist that's fair to all; "
        "{party_end} closes it.",
    ),
    (
        "This server's catalog",
        "{catalog_add} adds tracks to the server's catalog (visible only in this server); "
        "{catalog_stats} shows what's in it.",
    ),
    (
        "Privacy",
        "{forget} removes everything Earworm stored about you. Earworm only ever looks at the "
        "audio itself: no listening history from other services.",
    ),
]

COMMANDS = {
    "classify": "classify",
    "recommend": "recommend",
    "likes": "likes",
    "party_start": "party start",
    "party_playlist": "party playlist",
    "party_end": "party end",
    "catalog_add": "catalog add",
    "catalog_stats": "catalog stats",
    "forget": "forget",
}


def build_help_embed(bot: EarwormBot) -> discord.Embed:
    mentions = {key: bot.command_mention(name) for key, name in COMMANDS.items()}
    embed = discord.Embed(
        title="Earworm listens to music",
        description=(
            "Drop an audio file or a link and Earworm tells you what it sounds like, then finds "
            "tracks that sound alike among everything this server has shared."
        ),
        colour=HEART_COLOUR,
    )
    for title, text in SECTIONS:
        embed.add_field(name=title, value=text.format(**mentions), inline=False)
    settings = bot.settings
    embed.set_footer(
        text=(
            f"Limits: files up to {settings.max_attachment_bytes // (1024 * 1024)} MiB, "
            f"tracks up to {settings.max_duration_s / 60:g} min."
        )
    )
    return embed


class Help(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What Earworm does and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(embed=build_help_embed(self.bot), ephemeral=True)


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Help(bot))
