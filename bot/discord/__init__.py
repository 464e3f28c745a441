"""The Discord front end: :mod:`~bot.discord.app` (the client, error handling, entry point), the
cogs (one per feature), the embeds, the persistent track buttons, the progress editor and the
audio requests found in messages. Each command, click or reaction calls one service method and
presents its result."""
