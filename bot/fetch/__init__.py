"""Link fetching: a link to a local audio file, within limits (yt-dlp, public API only).

Part of the application, beside the service (DESIGN.md: front ends -> service -> fetch,
inference, storage); ``inference`` stays pure compute, with no network code. The service uses
:class:`LinkFetcher` (``runner``), which runs :func:`fetch_audio` in a worker process that is
killed when its time is up. Everything else here is synchronous and blocking; the ``progress``
callback runs in the calling thread.

The modules, one job each:

* ``limits``: :class:`FetchLimits`, :class:`FetchedAudio`, and how limits read in messages.
* ``addresses``: the address guard's rule (:func:`check_url`, :func:`is_public_address`).
* ``http_handler``: ``GuardedRH``, yt-dlp's only request handler: connections, redirects and
  body counting, all through the guard.
* ``session``: one fetch's state, the guard ``GuardedRH`` asks, and the watchdog.
* ``ytdlp``: the YoutubeDL wiring (only our handler, no ffmpeg, no proxy) and :func:`warm_up`.
* ``download``: :func:`fetch_audio`, entry by entry; ``files``: the downloaded file's checks;
  ``progress``: progress events and yt-dlp's progress hook; ``failures``: yt-dlp's errors in
  words for the user.
* ``runner``: :class:`LinkFetcher`, fetches in killable worker processes.

How the limits are enforced
---------------------------
* **Addresses** (``check_url``): http(s) only; the host is resolved and *every* address it
  resolves to must be public (not private, loopback, link-local, multicast, reserved,
  unspecified, shared/CGNAT, nor an IPv4-mapped / 6to4 / NAT64 form of one), unless
  ``allow_private``. yt-dlp's only request handler is ours (``bot.fetch.http_handler.GuardedRH``,
  installed through YoutubeDL's public ``build_request_director``): every connection it opens is
  made by ``session.FetchSession.connect``, which resolves the host, checks every address with
  the same rule and connects to the address it checked. So every request yt-dlp makes is
  checked right before it connects: the page, each redirect hop (followed by the handler, one
  checked connection each), the media URL, HLS/DASH fragments. A DNS answer that changes
  between the check and the download (DNS rebinding) is checked again at connect time and
  cannot slip a private address in. Only ``http``/``https`` are handled at all (no ``ftp:``,
  ``file:``, ``data:``), no proxy is ever used, and ffmpeg is hidden from yt-dlp (it would do
  its own networking).
* **Wall clock** (``timeout_s``): a watchdog timer covers extraction and download together. When it
  fires it shuts down every socket the fetch opened (which wakes any blocked read, even on a
  server that trickles one byte at a time) and refuses new connections; body reads and the
  progress hook also raise once the deadline has passed. ``socket_timeout`` bounds each single
  network operation. CPU-bound parsing cannot be interrupted from inside: the link fetcher kills
  the worker process a few seconds past the deadline.
* **Bytes** (``max_bytes``): (1) the format selector prefers formats whose known size fits; (2) a
  known ``filesize`` over the limit is refused before downloading; (3) any response whose
  ``Content-Length`` (or ``Content-Range`` total) is over the limit is refused as soon as its
  headers arrive; (4) every response body is counted as it arrives and again after its
  content-encoding is undone (a bounded piece at a time: a gzip-in-gzip bomb never inflates
  past the cap), both capped; encodings that cannot be undone that way are refused; (5) the
  progress hook aborts when the downloaded bytes (cumulative over fragments) pass it. yt-dlp's
  own ``max_filesize`` is set too. While the extractor reads pages, manifests and API answers,
  the cap is ``max_page_bytes``: a huge page would keep it parsing for many seconds.
* **Duration** (``max_duration_s``): a ``match_filter`` refuses entries whose duration the site
  declares before anything is downloaded. Plain files (the generic extractor) declare none, so
  after the download the file is probed by the analyzer's own ``inference.audio.probe`` (one
  sniffer; libsndfile, or ffprobe pinned to the sniffed demuxer and to the ``file`` protocol for
  that one file) and refused if longer. Without ffprobe the post-check is skipped (logged) for
  what libsndfile cannot read, and the analyzer's decoded-duration cap is the backstop.
* **Not audio**: a direct link whose Content-Type is clearly not media (image, text, PDF, ...)
  is refused before downloading (HLS and DASH manifests are media); every downloaded file is
  sniffed and probed for an audio stream, and refused naming what it is (a web page, a
  playlist, a video without sound, ...).
* **Playlists**: off unless ``playlist=True``; then at most ``max_playlist_items`` entries. With
  a playlist, one bad entry (too long, not found, ...) is skipped; a timeout or a blocked address
  stops the whole fetch.

Residual risks (documented, accepted)
-------------------------------------
* DNS resolution itself (``getaddrinfo``) cannot be interrupted: a very slow resolver can
  overrun ``timeout_s`` by the resolver's own timeout (the worker is killed after the grace).
* The guard relies on yt-dlp building its handlers through ``build_request_director`` (public,
  checked against yt-dlp 2026.10). Should a release stop doing so, every response that did not
  come through ``GuardedRH`` is refused (logged as an error); the tests exercise redirects,
  rebinding, HLS fragments and proxies against the real library.
* A request is refused *before* it is sent, but a public server can still make us send a GET to
  another public address (that is what following a link means).
* Extractors that need other transports (websockets, browser impersonation) or a proxy fail
  instead of working.
* ``check_url`` and the connect-time check resolve the name separately; if they disagree, the
  connect-time answer is what is used and checked, so this costs a lookup, not safety.
* ``max_bytes`` and ``max_duration_s`` are per file: a playlist can bring up to
  ``max_playlist_items`` times as much, within the one ``timeout_s``. The page cap applies while
  extracting; an entry extracted lazily during the download phase is capped at ``max_bytes``.
* Hiding ffmpeg means formats that need it (separate audio+video merges, HLS features the
  native downloader lacks) are not used; audio-only formats, which we prefer, need none.
* A process's first fetch spends about 2 s compiling yt-dlp's URL patterns; the link fetcher's
  workers call :func:`warm_up` when they start, outside any fetch's time limit.
"""

from bot.fetch.addresses import check_url, is_public_address
from bot.fetch.download import fetch_audio
from bot.fetch.limits import FetchedAudio, FetchLimits, ProgressCallback, download_timeout
from bot.fetch.runner import KILL_GRACE_S, LinkFetcher
from bot.fetch.ytdlp import warm_up

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
