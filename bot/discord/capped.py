"""A dict that forgets its oldest entries past a size limit: the bot's small in-memory lookups
(result messages -> tracks, reacted messages -> tracks, party display names), which must not
grow for as long as the bot runs."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class CappedDict(OrderedDict[K, V]):
    """An ``OrderedDict`` of at most ``limit`` entries: adding one past it drops the oldest.

    Every assignment is capped, wherever it happens. Assigning to a key already there keeps its
    place (first in, first out); call ``move_to_end`` too for least-recently-used order."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)
