"""Formatting both front ends share: durations, shares, tempo, key, mood, titles and genre names
(:mod:`~bot.present.format`), genre colours (:mod:`~bot.present.colours`), playlist wording
(:mod:`~bot.present.playlists`) and the genre timeline chart (:mod:`~bot.present.chart`)."""
