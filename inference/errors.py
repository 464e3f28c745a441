"""Errors raised by the analysis engine.

Every error carries a short message written for the person who sent the audio: the bot and the
CLI show ``str(error)`` as it is. ``code`` is a stable machine-readable name (used in logs, JSON
output and tests).
"""

from __future__ import annotations


class EarwormError(Exception):
    """Base class: a refusal or failure with a message fit to show a user."""

    code = "error"


class AudioError(EarwormError):
    """The input could not be turned into audio samples."""

    code = "audio_error"


class EmptyInput(AudioError):
    code = "empty_input"


class UnsupportedFormat(AudioError):
    """Not a format we can decode (e.g. an image renamed .mp3)."""

    code = "unsupported_format"


class CorruptAudio(AudioError):
    """Looks like audio, but decoding failed or produced nothing."""

    code = "corrupt_audio"


class MissingDecoder(AudioError):
    """The format needs a tool that is not installed (ffmpeg for m4a/aac/webm/opus)."""

    code = "missing_decoder"


class InputTooLarge(AudioError):
    code = "too_large"


class AudioTooLong(AudioError):
    code = "too_long"


class AudioTooShort(AudioError):
    code = "too_short"


class JobError(EarwormError):
    """An analysis job failed inside the worker pool."""

    code = "job_error"


class WorkerCrashed(JobError):
    code = "worker_crashed"


class JobTimeout(JobError):
    code = "job_timeout"


class PoolBusy(JobError):
    """The queue is full; try again later."""

    code = "busy"

    def __init__(self, message: str, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PoolClosed(JobError):
    code = "pool_closed"


class FetchError(EarwormError):
    """A link could not be downloaded as audio."""

    code = "fetch_error"


class BlockedAddress(FetchError):
    code = "blocked_address"


class UnsupportedLink(FetchError):
    code = "unsupported_link"


class LinkNotFound(FetchError):
    code = "not_found"


class DownloadTooLarge(FetchError):
    code = "download_too_large"


class DownloadTooLong(FetchError):
    code = "download_too_long"


class DownloadTimeout(FetchError):
    code = "download_timeout"


class NotAudioLink(FetchError):
    code = "not_audio"
