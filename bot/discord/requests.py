"""Find the audio in a Discord message: an audio attachment, or else the first http(s) link.

What comes out is an :class:`AudioRequest`: either an attachment (whose declared size
:meth:`AudioRequest.check_size` checks against the limit *before* anything is downloaded) or a
link. :meth:`AudioRequest.source` hands it to the service as an
:class:`~bot.service.results.AudioSource` (the service downloads a link in a worker with
yt-dlp, and an attachment with :meth:`AudioRequest.read`). ``source_url`` is what the catalog
records as the track's source: the message's jump URL for an attachment (so "More like this"
and playlists link back to where it was shared), the link itself for a link. An attachment given
straight to ``/classify`` has no message yet: its ``source_url`` is None and the service records
the result message instead.

``shared_by`` is who the catalog credits with the track (``tracks.added_by``, what ``/forget``
unlinks): the author of the message it was found in, or whoever gave it to ``/classify``, never
whoever merely reacted to it or asked for an analysis of someone else's message (their ❤️ is a
like, stored apart).

Nothing here blocks: reading an attachment is one aiohttp request on discord.py's session.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

import discord

from bot.service.results import AudioSource
from inference.errors import EarwormError
from inference.formats import AUDIO_EXTENSIONS  # every container the decoder reads

log = logging.getLogger(__name__)

__all__ = [
    "AttachmentTooLarge",
    "AudioRequest",
    "NoAudioFound",
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
    """Audio to analyze, as found in a message or a command's options."""

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

    def check_size(self, max_bytes: int) -> None:
        """Raise :class:`AttachmentTooLarge` if the declared size is over ``max_bytes``."""
        if self.attachment is not None and self.attachment.size > max_bytes:
            raise AttachmentTooLarge(
                f"That file is {human_size(self.attachment.size)}; the limit is "
                f"{human_size(max_bytes)}."
            )

    def source(self, max_bytes: int) -> AudioSource:
        """The request as the service takes it (an attachment is read within ``max_bytes``)."""
        read = (lambda: self.read(max_bytes)) if self.attachment is not None else None
        return AudioSource(self.kind, self.title, self.url, self.source_url, self.shared_by, read)

    async def read(self, max_bytes: int) -> bytes:
        """The attachment's bytes: the declared size is checked first (nothing is downloaded
        when it is over the limit), then the actual size."""
        if self.attachment is None:
            raise TypeError("only attachments can be read")
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
