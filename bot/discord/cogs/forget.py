"""``/forget``: delete everything Earworm stored about the person who asks.

A private confirmation first (a red "Delete everything about me" button and Cancel; only the
invoker can press them; they expire), then ``service.forget(user)`` in one transaction: likes,
party memberships and recommendation history go; tracks the user shared stay in the catalogs
(other people like them) but are no longer linked to them. The bot then dispatches
``earworm_user_forgotten`` so cogs can drop anything they keep in memory about the user.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.app import EarwormView
from bot.discord.playlist_embeds import FORGET_PROMPT, forget_summary
from bot.discord.replies import services_of

if TYPE_CHECKING:
    from bot.discord.app import EarwormBot

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 120.0


class ForgetConfirm(EarwormView):
    """Delete / Cancel, for the invoker only."""

    def __init__(self, interaction: discord.Interaction, *, timeout: float | None = None) -> None:
        super().__init__(owner_id=interaction.user.id, timeout=timeout or CONFIRM_TIMEOUT_S)
        self.bot: Any = interaction.client
        self.interaction = interaction  # the /forget that showed it: its reply is edited later
        self.done = False

    @discord.ui.button(label="Delete everything about me", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        if self.done:  # a double click: the first one does the work
            await interaction.response.defer()
            return
        self.done = True
        self.stop()
        await interaction.response.edit_message(content="Deleting…", view=None)
        try:
            report = await services_of(self.bot).forget(interaction.user.id)
        except Exception:  # one transaction: nothing was deleted; the error goes to on_error
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(
                    content="I couldn't delete your data just now; nothing was changed."
                )
            raise
        self.bot.dispatch("earworm_user_forgotten", interaction.user.id)
        log.info("user %s asked to be forgotten: %s", interaction.user.id, report)
        await interaction.edit_original_response(content=forget_summary(report))

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.done = True
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled — nothing was deleted.", view=None
        )

    async def on_timeout(self) -> None:
        if self.done:
            return
        try:
            await self.interaction.edit_original_response(
                content="This confirmation expired — nothing was deleted. Run "
                f"{self.bot.command_mention('forget')} again if you still want to.",
                view=None,
            )
        except discord.HTTPException:
            pass  # dismissed, or the token expired


class Forget(commands.Cog):
    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="forget", description="Delete everything Earworm stored about you (asks first)"
    )
    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            FORGET_PROMPT, view=ForgetConfirm(interaction), ephemeral=True
        )


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Forget(bot))
