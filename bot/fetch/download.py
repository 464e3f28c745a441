"""``fetch_audio``: a link to local audio files, within limits (yt-dlp); how the pieces fit is
described in ``bot.fetch``."""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.fetch.addresses import AddressPolicy, check_url_with_policy
from bot.fetch.failures import translate_error
from bot.fetch.files import (
    check_file,
    clean_optional,
    clean_title,
    downloaded_path,
    non_negative_number,
)
from bot.fetch.limits import FetchedAudio, FetchLimits, ProgressCallback
from bot.fetch.progress import ProgressReporter, make_progress_hook
from bot.fetch.session import FetchSession, entry_refusal
from bot.fetch.ytdlp import GuardedYoutubeDL, ytdlp_params
from inference.errors import (
    BlockedAddress,
    DownloadTimeout,
    FetchError,
    NotAudioLink,
    UnsupportedLink,
)
from inference.formats import AUDIO_EXTENSIONS, CONTAINERS

__all__ = ["fetch_audio"]

log = logging.getLogger(__name__)

# Protocols whose bytes all flow through yt-dlp's HTTP stack (and so through our guard).
_ALLOWED_PROTOCOLS = frozenset({"http", "https", "m3u8", "m3u8_native", "http_dash_segments"})
# Content types that are certainly not audio (a direct link to one is refused before download).
# HLS and DASH manifests (application/vnd.apple.mpegurl, application/x-mpegurl,
# application/dash+xml) are media: yt-dlp downloads what they list, through our guard.
_NOT_MEDIA_TYPES = re.compile(
    r"^(?:image/|text/|font/|application/(?:pdf|json|xml|xhtml|zip|gzip|x-tar|javascript"
    r"|x-javascript|msword|vnd\.(?!apple\.mpegurl)|x-7z|x-rar|x-bzip|x-shockwave))"
)


def fetch_audio(
    url: str,
    dest_dir: Path,
    limits: FetchLimits,
    *,
    playlist: bool = False,
    progress: ProgressCallback | None = None,
) -> list[FetchedAudio]:
    """Download the audio behind ``url`` into ``dest_dir`` (created if missing).

    Returns one FetchedAudio, or up to ``limits.max_playlist_items`` with ``playlist=True``.
    Raises a FetchError subclass with a message fit for the user; details go to the log.
    Files are named ``<random>-NN-<id>.<ext>``; on failure nothing is left behind.

    ``progress`` receives dicts: ``{"stage": "resolving", "fraction": 0.0}``, then
    ``{"stage": "downloading", "fraction": 0.4 | None, "item": 1, "items": 3,
    "downloaded_bytes": int, "total_bytes": int | None}`` (fraction is over all items, None while
    the size is unknown; at most about four a second), ``{"stage": "checking", ...}`` and finally
    ``{"stage": "done", "fraction": 1.0}``. It is called in the calling thread; exceptions from it
    are logged and ignored.
    """
    return _fetch_audio(
        url,
        Path(dest_dir),
        limits,
        playlist=playlist,
        progress=progress,
        policy=AddressPolicy(allow_private=limits.allow_private),
    )


def _fetch_audio(
    url: str,
    dest_dir: Path,
    limits: FetchLimits,
    *,
    playlist: bool,
    progress: ProgressCallback | None,
    policy: AddressPolicy,
) -> list[FetchedAudio]:
    check_url_with_policy(url, policy)
    url = url.strip()
    dest_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(6)
    session = FetchSession(policy, limits)
    reporter = ProgressReporter(progress)
    reporter.emit("resolving", 0.0)
    watchdog = threading.Timer(limits.timeout_s, session.expire)
    watchdog.daemon = True
    watchdog.start()
    results: list[FetchedAudio] = []
    ok = False
    try:
        params = ytdlp_params(
            limits, dest_dir, token, playlist, session, make_progress_hook(session, reporter)
        )
        with GuardedYoutubeDL(params, session) as ydl:
            try:
                info = ydl.extract_info(url, download=False)
            except Exception as exc:
                raise translate_error(exc, session, url) from None
            if session.timed_out():
                raise session.timeout_error()
            session.extracting = False  # from here on: media, capped at max_bytes
            entries = _entries(info)[: limits.max_playlist_items if playlist else 1]
            if not entries:
                if session.rejections:
                    raise session.rejections[0]
                raise NotAudioLink("I couldn't find any audio at that link.")
            reporter.items = len(entries)
            item_errors: list[FetchError] = []
            for index, entry in enumerate(entries):
                reporter.item = index
                try:
                    results.append(
                        _download_entry(
                            ydl, entry, session, reporter, url, single=len(entries) == 1
                        )
                    )
                except FetchError as err:
                    if (
                        not playlist
                        or session.timed_out()
                        or isinstance(err, DownloadTimeout | BlockedAddress)
                    ):
                        raise
                    log.info("playlist %s: skipping item %d: %s", url, index + 1, err)
                    item_errors.append(err)
            if not results:
                raise item_errors[0]
        ok = True
        reporter.emit("done", 1.0, items=len(results))
        return results
    except FetchError as err:
        log.info("fetch %s refused: %s (%s)", url, err, err.code)
        raise
    finally:
        watchdog.cancel()
        session.close()
        keep = {r.path for r in results} if ok else set()
        for leftover in dest_dir.glob(f"{token}-*"):  # partial files, and everything on failure
            if leftover not in keep:
                leftover.unlink(missing_ok=True)


def _entries(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The video entries of an extract_info result (a playlist is flattened)."""
    if not info:
        return []
    if info.get("_type") in ("playlist", "multi_video"):
        found: list[dict[str, Any]] = []
        for entry in info.get("entries") or []:
            found.extend(_entries(entry))
        return found
    return [info]


def _entry_urls(entry: dict[str, Any]) -> Iterator[str]:
    for fmt in [entry, *(entry.get("requested_formats") or [])]:
        for key in ("url", "manifest_url", "fragment_base_url"):
            value = fmt.get(key)
            if isinstance(value, str) and value:
                yield value


def _precheck_entry(entry: dict[str, Any], session: FetchSession) -> None:
    """Everything we can refuse before downloading an entry's bytes."""
    error = entry_refusal(entry, session)
    if error is not None:
        raise error
    if not entry.get("url") and not entry.get("requested_formats"):
        raise (
            session.rejections[0]
            if session.rejections
            else NotAudioLink("I couldn't find any audio at that link.")
        )
    for target in _entry_urls(entry):
        # Early and clear; the connect-time checks still apply.
        check_url_with_policy(target, session.policy)
    protocols = str(entry.get("protocol") or "").split("+")
    if not all(p in _ALLOWED_PROTOCOLS for p in protocols):
        log.info("refusing protocol %r", entry.get("protocol"))
        raise UnsupportedLink("I can't download that kind of stream.")
    ctype = session.content_types.get(entry.get("url") or "")
    if ctype and _NOT_MEDIA_TYPES.match(ctype):
        log.info("refusing %s: Content-Type %s", entry.get("url"), ctype)
        raise NotAudioLink("That link isn't an audio file.")


def _download_entry(
    ydl: GuardedYoutubeDL,
    entry: dict[str, Any],
    session: FetchSession,
    reporter: ProgressReporter,
    page_url: str,
    *,
    single: bool,
) -> FetchedAudio:
    session.start_item()
    _precheck_entry(entry, session)
    reporter.emit(
        "downloading",
        reporter.item_fraction(0.0),
        item=reporter.item + 1,
        items=reporter.items,
        downloaded_bytes=0,
        total_bytes=None,
    )
    try:
        result = ydl.process_ie_result(entry, download=True)
    except Exception as exc:
        raise translate_error(exc, session, page_url) from None
    if session.error is not None:
        raise session.error
    if session.timed_out():
        raise session.timeout_error()
    path = downloaded_path(result)
    if path is None or not path.is_file():
        log.warning("yt-dlp reported no file for %s", entry.get("webpage_url") or page_url)
        raise FetchError("I couldn't download that link.")
    reporter.emit(
        "checking", reporter.item_fraction(1.0), item=reporter.item + 1, items=reporter.items
    )
    fmt, probed_duration = check_file(path, session)
    duration = non_negative_number(result.get("duration")) or probed_duration
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        ext = CONTAINERS[fmt].extensions[0] if fmt in CONTAINERS else fmt
        renamed = path.with_suffix("." + ext)
        path.rename(renamed)
        path = renamed
    extractor = str(result.get("extractor") or result.get("extractor_key") or "unknown")
    title = clean_title(result.get("track") or result.get("title"), path)
    if single and extractor == "html5":
        title = title.removesuffix(" (1)")  # yt-dlp numbers <audio> entries even when alone
    return FetchedAudio(
        path=path,
        title=title,
        url=str(result.get("webpage_url") or entry.get("webpage_url") or page_url),
        uploader=clean_optional(
            result.get("uploader")
            or result.get("channel")
            or result.get("artist")
            or result.get("creator")
        ),
        duration_s=duration,
        extractor=extractor,
    )
