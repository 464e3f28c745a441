"""Progress events for the caller of a fetch, and yt-dlp's progress hook (which also enforces the
byte cap and the deadline while a file downloads)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.fetch.limits import ProgressCallback
from bot.fetch.session import FetchSession

__all__ = ["ProgressReporter", "make_progress_hook"]

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL_S = 0.25


class ProgressReporter:
    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.items = 1
        self.item = 0
        self._last = 0.0

    def emit(
        self, stage: str, fraction: float | None = None, *, force: bool = True, **extra: Any
    ) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < _PROGRESS_INTERVAL_S:
            return
        self._last = now
        event: dict[str, Any] = {"stage": stage, "fraction": fraction, **extra}
        try:
            self.callback(event)
        except Exception:
            log.exception("progress callback failed (ignored)")

    def item_fraction(self, fraction: float) -> float:
        return min(1.0, (self.item + max(0.0, min(1.0, fraction))) / max(1, self.items))


def make_progress_hook(
    session: FetchSession, reporter: ProgressReporter
) -> Callable[[dict[str, Any]], None]:
    limit = session.limits.max_bytes

    def hook(d: dict[str, Any]) -> None:
        session.check_time()
        done = int(d.get("downloaded_bytes") or 0)
        total = d.get("total_bytes")
        if done > limit or (isinstance(total, int | float) and total > limit):
            session.fail(session.too_large_error())
        expected = total or d.get("total_bytes_estimate")
        fraction = (
            reporter.item_fraction(done / expected)
            if isinstance(expected, int | float) and expected > 0
            else None
        )
        finished = d.get("status") == "finished"
        if finished:
            fraction = reporter.item_fraction(1.0)
        reporter.emit(
            "downloading",
            fraction,
            force=finished,
            item=reporter.item + 1,
            items=reporter.items,
            downloaded_bytes=done,
            total_bytes=int(expected) if expected else None,
        )

    return hook
