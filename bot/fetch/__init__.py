"""Link fetching: a link to a local audio file, within limits, behind an address guard.

Part of the application (DESIGN.md: front ends -> service -> fetch, inference, storage), not of
``inference``, which stays pure compute without network code. The service uses
:class:`LinkFetcher`, which runs :func:`fetch_audio` in a worker process killed at its deadline.
"""

from bot.fetch.download import (
    FetchedAudio,
    FetchLimits,
    ProgressCallback,
    check_url,
    download_timeout,
    fetch_audio,
    is_public_address,
    warm_up,
)
from bot.fetch.runner import KILL_GRACE_S, LinkFetcher

__all__ = [
    "KILL_GRACE_S",
    "FetchLimits",
    "FetchedAudio",
    "LinkFetcher",
    "ProgressCallback",
    "check_url",
    "download_timeout",
    "fetch_audio",
    "is_public_address",
    "warm_up",
]
