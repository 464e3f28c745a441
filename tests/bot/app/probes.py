"""What the plumbing tests share: the ephemeral flag and a way to add probe commands to the
running bot."""

from __future__ import annotations

import discord
from discord import app_commands

EPHEMERAL = 64


async def add_commands(
    bot: discord.Client, *commands: app_commands.Command | app_commands.ContextMenu
) -> None:
    for command in commands:
        bot.tree.add_command(command)
    await bot.tree.sync()
