"""yt-dlp, wired so that the fetch's guard sees every request: a YoutubeDL whose only request
handler is ours, its messages routed to our log, and the options that keep everything else
(proxies, ffmpeg, post-processing, remote components) out of the way."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yt_dlp

from bot.fetch.http_handler import GuardedResponse, GuardedRH
from bot.fetch.limits import FetchLimits
from bot.fetch.session import FetchSession
from inference.errors import FetchError

__all__ = ["GuardedYoutubeDL", "YtdlpLogger", "warm_up", "ytdlp_params"]

log = logging.getLogger(__name__)

# Handed to yt-dlp as its ffmpeg location so that it never runs ffmpeg (which would fetch URLs
# itself, outside our address checks and limits). The analyzer still uses ffmpeg on local files.
_NO_FFMPEG = "/nonexistent/earworm-hides-ffmpeg-from-yt-dlp"


def warm_up() -> None:
    """Pay yt-dlp's one-time start-up cost now (about 1.5 s: compiling ~1800 extractors' URL
    patterns and importing their modules), e.g. in a worker's initializer, rather than inside the
    first fetch's time limit. No network."""
    from yt_dlp.extractor import gen_extractor_classes

    for ie in gen_extractor_classes():
        ie.suitable("https://example.com/warm-up")
        getattr(ie, "real_class", ie)  # lazy extractors import their module on first use


class GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """A YoutubeDL whose only request handler is ours (``GuardedRH``), whatever other handlers
    (urllib, requests, curl_cffi, websockets) yt-dlp has registered."""

    def __init__(self, params: dict[str, Any], session: FetchSession) -> None:
        self._earworm_session = session
        super().__init__(params)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        guarded = functools.partial(GuardedRH, guard=self._earworm_session)
        return super().build_request_director([guarded], preferences)

    def urlopen(self, req: Any) -> Any:
        response = super().urlopen(req)
        if not isinstance(response, GuardedResponse):
            # Some yt-dlp release found another way to the network: refuse rather than trust it.
            response.close()
            log.error("yt-dlp fetched %s without the address guard; refusing", response.url)
            self._earworm_session.fail(FetchError("I couldn't download that link."))
        return response


class YtdlpLogger:
    """Routes yt-dlp's messages to our log (it never prints)."""

    def debug(self, msg: str) -> None:
        if not msg.startswith("[debug] "):
            log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.debug("yt-dlp warning: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp error: %s", msg)


def _format_spec(max_bytes: int) -> str:
    """``bestaudio/best``, preferring formats that fit and travel over plain HTTP(S) or HLS."""
    fits = f"[filesize<?{max_bytes}][filesize_approx<?{max_bytes}]"
    preferred = [
        f"{kind}[protocol{proto}]{fits}"
        for kind in ("bestaudio", "best")
        for proto in ("^=http", "^=m3u8")
    ]
    return "/".join([*preferred, "bestaudio", "best"])


def ytdlp_params(
    limits: FetchLimits,
    dest_dir: Path,
    token: str,
    playlist: bool,
    session: FetchSession,
    hook: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    return {
        "format": _format_spec(limits.max_bytes),
        "noplaylist": not playlist,
        "playlistend": max(1, limits.max_playlist_items) if playlist else 1,
        "max_filesize": limits.max_bytes,
        "match_filter": session.match_filter,
        "progress_hooks": [hook],
        "socket_timeout": limits.timeout_s,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": YtdlpLogger(),
        "cachedir": False,
        "paths": {"home": str(dest_dir), "temp": str(dest_dir)},
        "outtmpl": {"default": f"{token}-%(autonumber)02d-%(id).40B.%(ext)s"},
        "restrictfilenames": True,
        "windowsfilenames": True,
        "overwrites": True,
        "ignoreerrors": False,
        "check_formats": False,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 0,
        "skip_unavailable_fragments": False,
        # Only our guarded HTTP stack touches the network: no environment proxy, no ffmpeg
        # downloader (it would fetch HLS/RTMP itself), no post-processing, no remote components.
        "proxy": "",
        "external_downloader": {"default": "native"},
        "ffmpeg_location": _NO_FFMPEG,
        "fixup": "never",
        "postprocessors": [],
        "remote_components": [],
    }
