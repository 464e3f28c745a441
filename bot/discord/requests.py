"""Find the audio in a Discord message: an audio attachment, or else the first http(s) link.

What comes out is an :class:`AudioRequest`: either an attachment (read its bytes with
:meth:`AudioRequest.read`, which checks the declared size against the limit *before* downloading
anything) or a link (hand ``url`` to ``EarwormService.add_link``, which downloads it in a worker
with yt-dlp). ``source_url`` is what the catalog records as the track's source: the message's
jump URL for an attachment (so "More like this" and playlists link back to where it was shared),
the link itself for a link. An attachment given straight to ``/classify`` has no message yet:
its ``source_url`` is None and the command sets it to the result message afterwards.

``shared_by`` is who the catalog credits with the track (``tracks.added_by``, what ``/forget``
unlinks): the author of the message it was found in, or whoever gave it to ``/classify``, never
whoever merely reacted to it or asked for an analysis of someone else's message (their ❤️ is a
like, stored apart).

Nothing here blocks: reading an attachment is one aiohttp request on discord.py's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

import discord

from bot.service.app import Stored
from bot.service.convert import record_to_analysis
from inference.errors import EarwormError, NotAudioLink
from inference.formats import AUDIO_EXTENSIONS  # every container the decoder reads

if TYPE_CHECKING:
    from bot.service.app import EarwormService

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AttachmentTooLarge",
    "AudioRequest",
    "NoAudioFound",
    "add_to_catalog",
    "existing_track",
    "find_links",
    "from_attachment",
    "from_link",
    "from_message",
    "human_size",
    "is_audio_attachment",
]

# http(s) links in message text; Discord users wrap links in <...> to hide the preview and in
# ||...|| for spoilers, so both delimiters end a link.
_LINK_RE = re.compile(r"https?://[^\s<>|\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_~"

MiB = 1024 * 1024


class AttachmentTooLarge(EarwormError):
    code = "attachment_too_large"


class NoAudioFound(EarwormError):
    code = "no_audio"


class AttachmentUnavailable(EarwormError):
    code = "attachment_unavailable"


def human_size(n: int) -> str:
    """``26214400`` -> ``"25 MiB"``; ``1536`` -> ``"1.5 KiB"``; ``12`` -> ``"12 bytes"``."""
    for unit, size in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value == int(value)
                else (f"{value:.1f} {unit}")
            )
    return f"{n} bytes"


@dataclass(frozen=True)
class AudioRequest:
    """Audio to analyse, as found in a message or a command's options."""

    kind: Literal["attachment", "link"]
    #: What to call it until the analysis knows better (file name stem, or the link).
    title: str
    #: Where to download it from: the attachment's CDN URL or the link.
    url: str
    #: The catalog's source for it (see the module docstring); None: set it later.
    source_url: str | None
    #: Who shared it (see the module docstring); None: nobody to credit (another bot's post).
    shared_by: int | None
    attachment: discord.Attachment | None = None

    @property
    def size(self) -> int | None:
        return self.attachment.size if self.attachment is not None else None

    def check_size(self, max_bytes: int) -> None:
        """Raise :class:`AttachmentTooLarge` if the declared size is over ``max_bytes``."""
        if self.attachment is not None and self.attachment.size > max_bytes:
            raise AttachmentTooLarge(
                f"That file is {human_size(self.attachment.size)}; the limit is "
                f"{human_size(max_bytes)}."
            )

    async def read(self, max_bytes: int) -> bytes:
        """The attachment's bytes: the declared size is checked first (nothing is downloaded
        when it is over the limit), then the actual size."""
        if self.attachment is None:
            raise TypeError("only attachments can be read; give links to add_link")
        self.check_size(max_bytes)
        try:
            data = await self.attachment.read()
        except (discord.NotFound, discord.Forbidden):
            raise AttachmentUnavailable(
                "I couldn't download that file; it may have been deleted."
            ) from None
        except discord.HTTPException as exc:
            log.warning("attachment download failed: %s", exc)
            raise AttachmentUnavailable("I couldn't download that file; try again.") from None
        if len(data) > max_bytes:
            raise AttachmentTooLarge(
                f"That file is {human_size(len(data))}; the limit is {human_size(max_bytes)}."
            )
        return data


def is_audio_attachment(att: discord.Attachment) -> bool:
    """Audio or video by content type, or by file name ending."""
    ctype = (att.content_type or "").split(";")[0].strip().lower()
    if ctype.startswith(("audio/", "video/")):
        return True
    return PurePosixPath(att.filename.lower()).suffix in AUDIO_EXTENSIONS


def _stem(filename: str) -> str:
    stem = PurePosixPath(filename).stem
    return stem or filename


def from_attachment(
    att: discord.Attachment, *, source_url: str | None, shared_by: int | None
) -> AudioRequest:
    return AudioRequest("attachment", _stem(att.filename), att.url, source_url, shared_by, att)


def from_link(url: str, *, shared_by: int | None) -> AudioRequest:
    url = url.strip().strip("<>")
    return AudioRequest("link", _link_title(url), url, url, shared_by)


def _link_title(url: str) -> str:
    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).name) if parts.path else ""
    return _stem(name) if name else (parts.hostname or url)


def find_links(text: str) -> list[str]:
    """The http(s) links in message text, in order, trailing punctuation trimmed."""
    links = []
    for match in _LINK_RE.finditer(text or ""):
        link = match.group(0).rstrip(_TRAILING)
        # A closing bracket ends the link unless the link opened one: "(see https://x/a_(b))".
        while (
            link
            and link[-1] in ")]"
            and link.count(link[-1]) > link.count("(" if link[-1] == ")" else "[")
        ):
            link = link[:-1].rstrip(_TRAILING)
        if len(link) > len("https://"):
            links.append(link)
    return links


def from_message(message: discord.Message) -> AudioRequest | None:
    """The first audio attachment of ``message``, else its first link, else None.

    The catalog source of an attachment is the message's jump URL (the original message); the
    sharer is the message's author (nobody for a bot's or a webhook's post).
    """
    author = message.author
    shared_by = None if author.bot or message.webhook_id is not None else author.id
    for att in message.attachments:
        if is_audio_attachment(att):
            return from_attachment(att, source_url=message.jump_url, shared_by=shared_by)
    links = find_links(message.content)
    if links:
        return from_link(links[0], shared_by=shared_by)
    return None


# ---------------------------------------------------------------------- into the catalog

#: ``progress(stage, fraction)``: stage is "downloading" (fraction 0..1 or None) or "analysing".
StageCallback = Callable[[str, "float | None"], None]


async def existing_track(
    service: EarwormService, guild_id: int, request: AudioRequest
) -> Stored | None:
    """The catalog entry this request already has in the guild (same message or same link),
    with its stored analysis; None if there is none (nothing is downloaded here)."""
    if request.source_url is None:
        return None
    track = await service.db.find_track_by_source(guild_id, request.source_url)
    if track is None:
        return None
    record = await service.db.get_analysis(track.content_hash)
    if record is None:
        return None
    return Stored(track, record_to_analysis(record, track.title), False, True)


async def add_to_catalog(
    service: EarwormService,
    guild_id: int,
    request: AudioRequest,
    *,
    max_attachment_bytes: int,
    progress: StageCallback | None = None,
) -> Stored:
    """Download (attachment bytes, or the link in a worker), analyse in the pool and add to the
    guild's catalog, credited to ``request.shared_by``; reuse what is already there.
    ``progress`` is called on the event loop.

    Raises ``NotMusicError`` for speech/silence/noise (nothing is added) and other
    ``EarwormError`` subclasses for refusals and failures.
    """
    found = await existing_track(service, guild_id, request)
    if found is not None:
        return found

    def report(stage: str, fraction: float | None = None) -> None:
        if progress is not None:
            progress(stage, fraction)

    if request.kind == "attachment":
        report("downloading", None)
        return await service.add_attachment(
            guild_id,
            request.url,
            lambda: request.read(max_attachment_bytes),
            title=request.title,
            source_url=request.source_url,
            added_by=request.shared_by,
            downloaded=lambda: report("analysing", None),
        )

    loop = asyncio.get_running_loop()

    def on_fetch(event: dict) -> None:  # on the loop (from the fetch worker)
        stage = event.get("stage")
        if stage in ("resolving", "downloading"):
            args: tuple[str, float | None] = ("downloading", event.get("fraction"))
        elif stage == "done":
            args = ("analysing", None)
        else:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed (shutting down)
            loop.call_soon_threadsafe(report, *args)

    report("downloading", None)
    results = await service.add_link(guild_id, request.url, request.shared_by, progress=on_fetch)
    if not results:
        raise NotAudioLink("I couldn't find any audio at that link.")
    first = results[0]
    if isinstance(first, EarwormError):
        raise first
    return first
