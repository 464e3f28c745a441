"""Playlist wording shared by the terminal and Discord."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inference.recommend import PartyPick


def party_pick_line(pick: PartyPick, names: Mapping[int, str]) -> str:
    """'for Ada · close to ... · also suits Cy': whose turn it filled, why, and who else it suits."""

    def who(u: int) -> str:
        return names.get(u) or f"user {u}"

    head = f"for {who(pick.for_member)}" if pick.for_member is not None else "popular in this server"
    also = [who(u) for u in pick.serves if u != pick.for_member]
    tail = f" · also suits {', '.join(also)}" if also else ""
    return f"{head} · {pick.reason}{tail}"
