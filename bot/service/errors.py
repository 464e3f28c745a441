"""What the service refuses, and how a storage failure reads to a user.

Every refusal is an :class:`~inference.errors.EarwormError` whose message front ends show as is
(Discord: a short ephemeral message; the terminal: ``earworm: <message>``). Storage failures are
``storage`` exceptions; front ends ask :func:`storage_problem_message` what to tell the user
(the operator's detail goes to the log).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.errors import EarwormError
from storage.records import DatabaseCorrupt, DatabaseReadOnly, StorageError, StorageFull

if TYPE_CHECKING:
    from inference.result import Analysis
    from storage.records import PartyRecord

__all__ = [
    "HISTORY_NOT_SAVED",
    "EmptyParty",
    "ImportRunning",
    "NoParty",
    "NotInParty",
    "NotMusicError",
    "NotPartyHost",
    "PartyEnded",
    "PartyRefused",
    "PartyRunning",
    "TRACK_GONE",
    "StorageError",
    "UnknownTrack",
    "not_music_message",
    "storage_problem_message",
]

_NOT_MUSIC_WHY = {
    "speech": "it sounds like speech",
    "silence": "it's (nearly) silent",
    "noise": "it sounds like noise",
}

#: Why an ``UnknownTrack`` is raised: the track asked for (liked, or to find more like) is gone.
TRACK_GONE = "That track is not in this server's catalog any more."

#: Added to a playlist's note when its picks could not be remembered (the disk is full).
HISTORY_NOT_SAVED = "The server's disk is full, so I couldn't remember these picks: they may come up again. Please tell the bot's admin."


def not_music_message(reason: str | None) -> str:
    """``"This doesn't sound like music: it sounds like speech."``: the one wording of the
    not-music verdict (``reason``: ``Analysis.not_music_reason``), in every front end."""
    why = _NOT_MUSIC_WHY.get(reason or "")
    return f"This doesn't sound like music: {why}." if why else "This doesn't sound like music."


class NotMusicError(EarwormError):
    """Analyzed fine, but it is not music: not added to the catalog."""

    code = "not_music"

    def __init__(self, analysis: Analysis) -> None:
        super().__init__(not_music_message(analysis.not_music_reason))
        self.analysis = analysis


class UnknownTrack(EarwormError):
    code = "unknown_track"


class ImportRunning(EarwormError):
    code = "import_running"


class PartyRefused(EarwormError):
    """A party action that cannot be done; the message says why."""

    code = "party_refused"


class PartyRunning(PartyRefused):
    """The channel already has an active party (``party``)."""

    def __init__(self, party: PartyRecord) -> None:
        super().__init__("A party is already running here.")
        self.party = party


class NoParty(PartyRefused):
    """No active party in the channel."""

    def __init__(self) -> None:
        super().__init__("No party is running in this channel — start one with /party start.")


class NotInParty(PartyRefused):
    def __init__(self) -> None:
        super().__init__("Join the party first.")


class EmptyParty(PartyRefused):
    def __init__(self) -> None:
        super().__init__("Nobody is in the party yet.")


class NotPartyHost(PartyRefused):
    """Only the party's host (``host_id``; None: gone) or a server manager may do that."""

    def __init__(self, host_id: int | None) -> None:
        super().__init__("Only the host or someone who manages the server can end this party.")
        self.host_id = host_id


class PartyEnded(PartyRefused):
    """The party has ended (``party`` is None when it never existed); ``members`` as they were."""

    def __init__(self, party: PartyRecord | None, members: list[int]) -> None:
        super().__init__("This party has ended.")
        self.party = party
        self.members = members


def storage_problem_message(error: BaseException) -> str | None:
    """What a user is told when the database fails (the operator's detail goes to the log);
    None if ``error`` is not a storage failure."""
    if not isinstance(error, StorageError):
        return None
    if isinstance(error, StorageFull):
        return "The server's disk is full, so I couldn't save that. Try again later, or tell the bot's admin."
    if isinstance(error, DatabaseReadOnly):
        return "I can't save anything right now: my database is read-only. Please tell the bot's admin."
    if isinstance(error, DatabaseCorrupt):
        return "My database is damaged, so I couldn't do that. Please tell the bot's admin."
    return "I can't reach my database right now. Try again in a minute, or tell the bot's admin."
