"""The one progress editor: status lines shown by editing an interaction's response.

``/classify`` shows "⬇️ Downloading… 40%" then "🎧 Analyzing…"; ``/catalog add`` shows which
track of a playlist it is on. Both edit their deferred response through a
:class:`ProgressMessage`::

    progress = ProgressMessage(interaction, interval=1.0)
    message = await progress.start("⬇️ Downloading…", stage="downloading")
    progress.show("⬇️ Downloading… 40%", stage="downloading")   # on the event loop, never waits
    await progress.close()                                      # then send the answer

A new stage is shown at once; lines within a stage (percentages) at most every ``interval``
seconds, the latest one winning (Discord rate-limits edits). :meth:`close` waits for an edit in
flight, so no stale line can land after the answer. Discord's interaction token, which the
response is edited with, lives 15 minutes: with a ``deadline`` (monotonic seconds) the editor
shows ``expiry_text`` once when it passes and then leaves the response alone (:attr:`expired`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import discord

log = logging.getLogger(__name__)


class ProgressMessage:
    def __init__(
        self,
        interaction: discord.Interaction,
        *,
        interval: float = 1.0,
        deadline: float | None = None,
        expiry_text: str | None = None,
    ) -> None:
        self.interaction = interaction
        self.interval = interval
        self.deadline = deadline
        self.expiry_text = expiry_text
        #: True once past the deadline: the response is no longer edited.
        self.expired = False
        #: Every line shown, in order (for logs and tests).
        self.history: list[str] = []
        self._shown: tuple[str, str] | None = None  # (stage, text)
        self._pending: tuple[str, str] | None = None
        self._last = 0.0
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._edit_lock = asyncio.Lock()  # one edit at a time, none after the deadline
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, text: str, stage: str = "") -> discord.InteractionMessage:
        """Replace the "thinking…" state with the first line (awaited), then keep the response
        current until :meth:`close`; returns the response message."""
        message = await self.interaction.edit_original_response(content=text)
        self._shown = (stage, text)
        self.history.append(text)
        self._last = time.monotonic()
        self._tasks.append(asyncio.create_task(self._run(), name="earworm-progress"))
        if self.deadline is not None:
            self._tasks.append(asyncio.create_task(self._expire(), name="earworm-progress-deadline"))
        return message

    def show(self, text: str, stage: str = "") -> None:
        """Show ``text`` soon (see the module docstring); call it on the event loop."""
        if self._closed.is_set() or (stage, text) == self._shown:
            return
        self._pending = (stage, text)
        self._wake.set()

    async def close(self) -> None:
        """Stop editing; returns once no edit is in flight."""
        self._closed.set()
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    def past_deadline(self) -> bool:
        """Whether the response can no longer be edited (the deadline passed)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.expired = True
        return self.expired

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed.is_set():
                return
            pending = self._pending
            if pending is None or pending == self._shown:
                continue
            if self._shown is not None and pending[0] == self._shown[0]:
                delay = self._last + self.interval - time.monotonic()
                if delay > 0 and await self._closes_within(delay):
                    return
                pending = self._pending or pending  # the latest line by now
            if pending != self._shown:
                await self._edit(content=pending[1])
                self._shown = pending
                self.history.append(pending[1])
                self._last = time.monotonic()

    async def _expire(self) -> None:
        assert self.deadline is not None
        if await self._closes_within(self.deadline - time.monotonic()):
            return
        async with self._edit_lock:
            self.expired = True
            log.info("past the interaction deadline: no more edits of this response")
            if self.expiry_text:
                with contextlib.suppress(discord.HTTPException):
                    await self.interaction.edit_original_response(content=self.expiry_text)

    async def _closes_within(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if :meth:`close` was called meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), max(0.0, seconds))
        return self._closed.is_set()

    async def _edit(self, **fields: Any) -> None:
        async with self._edit_lock:
            if self.expired:
                return
            try:
                await self.interaction.edit_original_response(**fields)
            except discord.HTTPException as exc:
                log.debug("progress edit failed: %s", exc)
