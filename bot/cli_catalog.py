"""Catalog commands (index, like, recommend, party, demo): registered by bot.cli."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:  # filled in with the catalog work
    return None
