"""The two fixed embed colours that are not a genre's: the ❤️ red of the bot's own cards (/help,
likes, playlists, parties) and the grey of "other" (:data:`bot.present.colours.OTHER_COLOR`) for
what has no genre to show (not music, an ended party).

A genre's colour is ``discord.Colour.from_str(genre_color(genre))``."""

from __future__ import annotations

import discord

from bot.present.colours import OTHER_COLOR

HEART_COLOUR = discord.Colour(0xE0245E)  # the ❤️ red
OTHER_COLOUR = discord.Colour.from_str(OTHER_COLOR)
