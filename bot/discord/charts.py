"""Genre timeline charts for Discord results, drawn in a process of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
from typing import TYPE_CHECKING

from bot.present.chart import genre_timeline_png

if TYPE_CHECKING:
    from inference.result import Analysis

log = logging.getLogger(__name__)


def _warm_chart_process() -> None:
    import matplotlib  # noqa: F401  (the import is most of a first chart's cost)


class ChartRenderer:
    """Draws genre timelines (about 65 ms of matplotlib each) in one separate process.

    A thread (``asyncio.to_thread``) keeps the drawing off the event loop but not off the GIL:
    while a chart is drawn, every time the loop thread needs the GIL back (after each socket
    operation) it waits up to the interpreter's switch interval, and 16 results in a burst
    measurably delay the loop (tests/bench/bench_bot.py). A process has its own GIL. Should
    the process die, the chart is drawn in a thread instead and the process restarted next time.
    """

    def __init__(self) -> None:
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the process (idempotent); it imports matplotlib in the background."""
        if self._executor is not None:
            return
        try:
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_chart_process,
            )
            executor.submit(int)  # spawns the process and runs the initializer
        except Exception:
            log.warning(
                "could not start the chart process; charts are drawn in threads", exc_info=True
            )
            return
        self._executor = executor

    async def render(self, analysis: Analysis, title: str) -> bytes:
        draw = functools.partial(genre_timeline_png, analysis, title=title)
        self.start()
        executor = self._executor
        if executor is None:
            return await asyncio.to_thread(draw)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, draw)
        except concurrent.futures.process.BrokenProcessPool:
            log.warning("the chart process died; drawing this chart in a thread")
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(draw)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
