"""Earworm's Discord front end: the bot class, error handling and the entry point.

One :class:`EarwormBot` (a ``commands.Bot``) loads the cogs listed in :data:`COGS` in
``setup_hook`` and syncs the app-command tree. Cogs reach the application service layer through
``bot.services`` and the configuration through ``bot.settings``.

Errors: every app command and every :class:`EarwormView` reports failures through
:meth:`EarwormBot.handle_interaction_error`: a user-facing refusal (an ``EarwormError`` from the
engine, a cooldown, a failed check) becomes a short ephemeral message; a storage failure (a full
disk, a damaged or read-only database) says so, and its one-line cause goes to the log for the
admin; anything else becomes "Something went wrong on my side; it has been logged." with the
full traceback in the log. Either stays private after a public ``defer()`` too: the public
"thinking…" placeholder is deleted and the message sent as an ephemeral followup
(:func:`send_ephemeral`).
A cog's own error handler can set ``interaction.extras["error_handled"] = True`` to skip it.

Intents: ``guilds``, ``guild_messages``, ``guild_reactions`` and ``message_content``. Message
content is a *privileged* intent: enable it in the Discord developer portal (Application > Bot >
Privileged Gateway Intents > Message Content Intent), or Discord closes the gateway with 4014.
It is needed to read the attachments and links of a message someone reacts to with ❤️ or picks
from the context menu. The members intent is not used (no member list is needed).

Run it with ``python -m bot.discord.app`` (settings from the environment / ``.env``), or from
code with :func:`main_run` / :func:`run_bot`.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import ConfigError, Settings
from bot.discord.capped import CappedDict
from bot.service.errors import storage_problem_message
from inference.errors import EarwormError

log = logging.getLogger(__name__)

#: Extensions loaded in ``setup_hook``, in order. A listed module that does not exist (yet) is
#: skipped with a warning; one that exists but fails to import stops the bot.
COGS: list[str] = [
    "bot.discord.cogs.help",
    "bot.discord.cogs.classify",
    "bot.discord.cogs.likes",
    "bot.discord.cogs.recommend",
    "bot.discord.cogs.party",
    "bot.discord.cogs.forget",
    "bot.discord.cogs.catalog",
]

UNEXPECTED_ERROR_MESSAGE = "Something went wrong on my side; it has been logged."
#: Messages whose track the bot remembers (``EarwormBot.result_tracks``; the likes cog's
#: reacted-to messages).
RESULTS_REMEMBERED = 10_000
#: How often the connected bot touches ``settings.heartbeat_path`` (``earworm run --health``).
HEARTBEAT_INTERVAL_S = 30.0

# ---------------------------------------------------------------------- logging

#: The request id of the interaction being handled (``"-"`` outside one); on every log line.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "earworm_request_id", default="-"
)


def set_request_id(value: discord.Interaction | str | int) -> None:
    """Tag the log lines of the current task (and tasks it starts) with a request id."""
    if isinstance(value, discord.Interaction):
        value = f"i{value.id}"
    request_id_var.set(str(value))


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` so formats can use ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str | int = "INFO") -> None:
    """Log to stderr with the request id on each line (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_earworm", False):
            return
    handler = logging.StreamHandler()
    handler._earworm = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    # At DEBUG discord.py dumps every gateway payload and HTTP body (interaction tokens,
    # message contents): keep those two loggers at INFO.
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if numeric == logging.DEBUG:
        logging.getLogger("discord.gateway").setLevel(logging.INFO)
        logging.getLogger("discord.http").setLevel(logging.INFO)


# ---------------------------------------------------------------------- endpoints


def apply_endpoint_overrides(settings: Settings) -> Callable[[], None]:
    """Point discord.py at ``settings.api_base_url`` / ``settings.gateway_url`` when set.

    Both are process-wide class attributes (``discord.http.Route.BASE`` and
    ``DiscordWebSocket.DEFAULT_GATEWAY``), so call this before ``bot.start()``; it returns a
    callable that restores the previous values (tests).
    """
    old_base = Route.BASE
    old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
    if settings.api_base_url:
        Route.BASE = settings.api_base_url.rstrip("/")
    if settings.gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)

    def restore() -> None:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore


def build_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.guild_reactions = True
    intents.message_content = True  # privileged: enable it in the developer portal
    return intents


# ---------------------------------------------------------------------- errors


def user_message_for(error: BaseException) -> tuple[str, bool]:
    """The message to show for an interaction error, and whether the error was unexpected."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    elif isinstance(error, app_commands.TransformerError) and isinstance(
        error.__cause__, EarwormError
    ):
        error = error.__cause__
    if isinstance(error, EarwormError):
        return (str(error) or "I couldn't do that."), False
    storage_problem = storage_problem_message(error)
    if storage_problem is not None:  # a full disk, a damaged database: the admin must act
        return storage_problem, True
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {max(1, round(error.retry_after))} s.", False
    if isinstance(error, app_commands.MissingPermissions):
        return (
            f"You need the {_perm_list(error.missing_permissions)} permission to use this.",
            False,
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"I need the {_perm_list(error.missing_permissions)} permission in this channel.",
            False,
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server.", False
    if isinstance(error, app_commands.CheckFailure):
        if type(error) is app_commands.CheckFailure:
            return "You can't use this command here.", False
        return str(error), False
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {error.value!r} for that option.", False
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        # Discord's command list and ours differ (a deploy in progress, or a failed sync).
        return "That command isn't available any more; try again in a minute.", False
    return UNEXPECTED_ERROR_MESSAGE, True


def _perm_list(perms: list[str]) -> str:
    names = [p.replace("_", " ").replace("guild", "server").title() for p in perms]
    return " and ".join(f"**{n}**" for n in names) or "required"


async def send_ephemeral(interaction: discord.Interaction, content: str, **kwargs: Any) -> None:
    """Reply privately: the first response if none was sent yet, else an ephemeral followup.

    The first followup after a ``defer()`` replaces the "thinking…" placeholder and keeps the
    defer's visibility, whatever its own flag says. So after a *public* defer whose placeholder
    is still there, the placeholder is deleted first: then the followup is a new message, and
    private, and nothing is left in the channel.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(content, ephemeral=True, **kwargs)
        return
    await drop_public_placeholder(interaction)
    await interaction.followup.send(content, ephemeral=True, **kwargs)


async def drop_public_placeholder(interaction: discord.Interaction) -> bool:
    """Delete the original response if it is a public "thinking…" placeholder (a public defer
    that nothing has answered yet); True if it was deleted. Anything already shown stays."""
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return False  # a message sent, a deferred update (the clicked message), or a modal
    try:
        original = await interaction.original_response()
    except discord.HTTPException:  # already deleted
        return False
    if not original.flags.loading or original.flags.ephemeral:
        return False
    try:
        await interaction.delete_original_response()
    except discord.NotFound:
        return False
    return True


# ---------------------------------------------------------------------- the bot


class EarwormTree(app_commands.CommandTree["EarwormBot"]):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # Runs inside the task that handles this interaction: tag its log lines.
        set_request_id(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await self.client.handle_interaction_error(interaction, error, source="command")


class EarwormBot(commands.Bot):
    """The Discord bot. ``services`` is the application service layer (analysis, storage,
    recommendations); cogs use it as ``self.bot.services``."""

    def __init__(self, settings: Settings, services: object | None = None, **options: Any) -> None:
        options.setdefault(
            "activity", discord.Activity(type=discord.ActivityType.listening, name="/help")
        )
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=build_intents(),
            allowed_mentions=discord.AllowedMentions.none(),  # track titles never ping anyone
            chunk_guilds_at_startup=False,
            tree_cls=EarwormTree,
            **options,
        )
        self.settings = settings
        self.services = services
        #: Result message id -> the track it shows, newest last (bounded): a ❤️ on a result
        #: needs no message fetch. After a restart the message's buttons say the same.
        self.result_tracks: CappedDict[int, int] = CappedDict(RESULTS_REMEMBERED)
        #: Synced app commands by name (filled in ``setup_hook``): used for command mentions.
        self.app_command_ids: dict[str, int] = {}
        self._services_closed = False
        self._heartbeat_task: asyncio.Task[None] | None = None

    # -- startup

    async def setup_hook(self) -> None:
        for name in COGS:
            if importlib.util.find_spec(name) is None:
                log.warning("Cog %s is listed in COGS but does not exist; skipped", name)
                continue
            await self.load_extension(name)
            log.debug("Loaded %s", name)
        await self.sync_app_commands()
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="earworm-heartbeat")

    async def sync_app_commands(self) -> list[app_commands.AppCommand]:
        """Sync the command tree: to ``dev_guild_id`` (instant) when set, else globally."""
        try:
            if self.settings.dev_guild_id:
                guild = discord.Object(id=self.settings.dev_guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                where = f"guild {self.settings.dev_guild_id}"
            else:
                synced = await self.tree.sync()
                where = "globally"
        except discord.HTTPException:
            log.exception("Could not sync app commands; the previously synced ones stay in use")
            return []
        self.app_command_ids = {cmd.name: cmd.id for cmd in synced}
        log.info(
            "Synced %d app commands %s: %s", len(synced), where, ", ".join(c.name for c in synced)
        )
        return synced

    def remember_result(self, message_id: int, track_id: int) -> None:
        self.result_tracks[message_id] = track_id

    def command_mention(self, qualified_name: str) -> str:
        """``</party start:123>`` (clickable in Discord) when synced, else ``/party start``."""
        root = qualified_name.split()[0]
        cmd_id = self.app_command_ids.get(root)
        return f"</{qualified_name}:{cmd_id}>" if cmd_id else f"`/{qualified_name}`"

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("Logged in as %s (id %s) in %d guilds", self.user, self.user.id, len(self.guilds))

    # -- errors

    async def handle_interaction_error(
        self, interaction: discord.Interaction, error: BaseException, *, source: str = "interaction"
    ) -> None:
        """Tell the user (ephemeral) and log; the one place interaction errors end up."""
        if interaction.extras.get("error_handled"):
            return
        message, unexpected = user_message_for(error)
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        name = interaction.command.qualified_name if interaction.command else None
        if unexpected and storage_problem_message(original) is not None:
            # The operator's one line says what is wrong and what to do; details at debug.
            log.error("%s %s failed: %s", source, name or "-", original)
            log.debug("storage failure", exc_info=(type(original), original, original.__traceback__))
        elif unexpected:
            log.error(
                "Unhandled error in %s %s (interaction %s, user %s, guild %s)",
                source,
                name or "-",
                interaction.id,
                interaction.user.id if interaction.user else "-",
                interaction.guild_id,
                exc_info=(type(original), original, original.__traceback__),
            )
        else:
            log.info(
                "Refused %s %s for user %s: %s", source, name or "-", interaction.user.id, message
            )
        try:
            await send_ephemeral(interaction, message)
        except discord.DiscordException:
            log.warning(
                "Could not deliver the error message for interaction %s",
                interaction.id,
                exc_info=True,
            )

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        # Called by discord.py inside the ``except`` block of a failing event handler.
        log.exception("Unhandled exception in event %s", event_method)

    # -- health

    async def _heartbeat(self) -> None:
        """Touch ``settings.heartbeat_path`` every :data:`HEARTBEAT_INTERVAL_S` while connected
        to the gateway (``earworm run --health`` checks that it is fresh)."""
        path = self.settings.heartbeat_path
        await self.wait_until_ready()
        while not self.is_closed():
            ws = self.ws
            if ws is not None and ws.open:
                try:
                    await asyncio.to_thread(path.touch)
                except OSError:
                    log.warning("Could not write the heartbeat file %s", path, exc_info=True)
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    # -- shutdown

    async def close(self) -> None:
        """Close the services (``await services.aclose()`` if it has one), then Discord."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
            self.settings.heartbeat_path.unlink(missing_ok=True)
        if not self._services_closed:
            self._services_closed = True
            aclose = getattr(self.services, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.exception("Error while closing the services")
        await super().close()


class EarwormView(discord.ui.View):
    """Base for the bot's views: optional owner-only check, errors through the bot's handler
    (ephemeral message + log), and items disabled on timeout (set ``view.message`` to the
    message the view is on so it can be edited)."""

    def __init__(self, *, owner_id: int | None = None, timeout: float | None = 180.0) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.message: (
            discord.Message | discord.InteractionMessage | discord.WebhookMessage | None
        ) = None

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        set_request_id(interaction)
        if self.owner_id is not None and interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "These buttons belong to someone else.", ephemeral=True
            )
            return False
        return True

    async def on_timeout(self) -> None:
        for item in self.children:
            if hasattr(item, "disabled"):
                item.disabled = True  # type: ignore[attr-defined]
        if self.message is not None:
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                pass

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        client = interaction.client
        if isinstance(client, EarwormBot):
            await client.handle_interaction_error(
                interaction, error, source=f"view {type(self).__name__}"
            )
        else:  # pragma: no cover - only with a foreign client
            await super().on_error(interaction, error, item)


# ---------------------------------------------------------------------- entry points


async def run_bot(settings: Settings, services: object | None = None, **bot_options: Any) -> None:
    """Run the bot until it is closed; SIGTERM / SIGINT close it gracefully."""
    token = settings.require_token()
    restore = apply_endpoint_overrides(settings)
    bot = EarwormBot(settings, services, **bot_options)
    loop = asyncio.get_running_loop()
    stop_requested = False
    closing: list[asyncio.Task[None]] = []

    def request_stop(signame: str) -> None:
        nonlocal stop_requested
        if stop_requested:
            return
        stop_requested = True
        log.info("Received %s; shutting down (send it again to force)", signame)
        closing.append(loop.create_task(bot.close()))
        for sig in installed:  # a second signal gets the default behaviour: force quit
            loop.remove_signal_handler(sig)

    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, request_stop, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
    try:
        async with bot:
            await bot.start(token)
    except Exception:
        if not stop_requested:
            raise
        # A signal during login/startup: closing the session fails the pending request.
        log.info("Startup interrupted by shutdown", exc_info=True)
    finally:
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        for sig in installed:
            loop.remove_signal_handler(sig)
        restore()
    log.info("Stopped")


def main_run(
    settings: Settings,
    make_services: Callable[[Settings], Awaitable[object]] | None = None,
) -> int:
    """Blocking entry point for ``earworm run``: logging, services, bot. Returns an exit code.

    ``make_services`` is awaited inside the bot's event loop (so it can open async resources);
    the bot closes the services on shutdown (``aclose()``).
    """
    configure_logging(settings.log_level)
    try:
        settings.require_token()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def runner() -> None:
        services = await make_services(settings) if make_services is not None else None
        await run_bot(settings, services)

    try:
        asyncio.run(runner())
    except discord.LoginFailure:
        log.error("Discord rejected the token (DISCORD_TOKEN); reset it in the developer portal")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error(
            "Discord refused the Message Content intent: enable it in the developer portal "
            "(Application > Bot > Privileged Gateway Intents)"
        )
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main() -> int:
    """``python -m bot.discord.app``: settings from the environment and ``.env``."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return main_run(settings)


if __name__ == "__main__":
    # Run through the canonical module so cogs importing ``bot.discord.app`` share its classes.
    from bot.discord.app import main as _main

    raise SystemExit(_main())
