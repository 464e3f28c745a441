"""What the plumbing tests share: the repository root, the ephemeral flag, and a way to add probe
commands to the running bot."""

from __future__ import annotations

from pathlib import Path

import discord
from discord import app_commands

ROOT = Path(__file__).resolve().parents[3]
EPHEMERAL = 64


async def add_commands(
    bot: discord.Client, *commands: app_commands.Command | app_commands.ContextMenu
) -> None:
    for command in commands:
        bot.tree.add_command(command)
    await bot.tree.sync()
