"""Earworm, the application (DESIGN.md: front ends -> service -> fetch, inference, storage).

- ``bot.discord``: the Discord front end (the client, cogs, embeds, views, progress messages);
- ``bot.cli``: the terminal front end (``earworm`` commands and terminal text);
- ``bot.present``: formatting both front ends share (durations, genres, colours, the chart);
- ``bot.service``: every use case, knowing neither front end; the only part that uses storage;
- ``bot.config``: settings from the environment; ``bot.demo``: the offline demo.
"""
