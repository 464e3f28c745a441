"""bot.fetch and the link fetcher against hostile servers: compression bombs, pages that
take the extractor far past its deadline, playlists that point at local files; and the formats
a link may bring (HLS served as application/vnd.apple.mpegurl, video with sound).

Real yt-dlp, real ffmpeg, the real local HTTP server (tests/httpserver.py), real worker
processes. Memory is checked as a behavioural bound (generous), never time.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.fetch import FetchLimits, warm_up
from inference.errors import (
    BlockedAddress,
    DownloadTimeout,
    DownloadTooLarge,
    FetchError,
    NotAudioLink,
    UnsupportedLink,
)
from tests.audio_helpers import ffmpeg
from tests.bot.fetch.helpers import FIXTURES, fetch, fetch_local_only, leftovers
from tests.httpserver import LocalHTTPServer, wait_until

pytestmark = pytest.mark.links  # the link tests: `make upgrade-ytdlp` runs them after an upgrade
LOCAL = FetchLimits(allow_private=True, timeout_s=20)
MiB = 2**20


def _gzip(chunks: Iterator[bytes]) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(c.compress(chunk) for chunk in chunks), c.flush()])


def _bomb(head: bytes) -> bytes:
    """gzip inside gzip: about 1 KB on the wire, 512 MiB once both layers are undone."""
    inner = _gzip(iter([head, *(bytes(MiB) for _ in range(512))]))
    outer = _gzip(iter([inner]))
    assert len(outer) < 1200
    return outer


@pytest.fixture(scope="module")
def bomb() -> bytes:
    # It starts like a web page, so that served as HTML the extractor reads it as one.
    return _bomb(b"<!DOCTYPE html><html><head><title>x</title><body>")


@pytest.fixture(scope="module")
def server(http_server: LocalHTTPServer) -> LocalHTTPServer:
    root = http_server.root
    shutil.copy(FIXTURES / "solo_trumpet.ogg", root / "solo_trumpet.ogg")
    clip = ["-t", "6", "-i", str(FIXTURES / "vibe_ace.ogg"), "-vn"]
    (root / "hls").mkdir()
    hls = root / "hls"
    ffmpeg(*clip, "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
           "-hls_segment_filename", str(hls / "seg%03d.ts"), str(hls / "index.m3u8"))  # fmt: skip
    video = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=4"]
    ffmpeg(*video, *clip, "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "mjpeg",
           "-c:a", "pcm_s16le", str(root / "clip.avi"))  # fmt: skip
    ffmpeg(*video, "-c:v", "mjpeg", str(root / "silent.avi"))
    return http_server


# -- compression bombs ----------------------------------------------------------------------------


def _peak_traced(fn: Any) -> tuple[BaseException | None, int]:
    """(what ``fn()`` raised, the peak of Python memory allocated while it ran)."""
    tracemalloc.start()
    try:
        fn()
        raised = None
    except BaseException as exc:
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


@pytest.mark.parametrize("ctype", ["audio/mpeg", "text/html; charset=utf-8"])
def test_gzip_inside_gzip_bomb_is_stopped_while_it_streams(
    server: LocalHTTPServer, tmp_path: Path, bomb: bytes, ctype: str
) -> None:
    headers = {"Content-Type": ctype, "Content-Encoding": "gzip, gzip"}
    url = server.static(f"/bomb-{ctype[:4]}", bomb, headers)
    limits = FetchLimits(allow_private=True, timeout_s=20, max_bytes=8 * MiB)
    warm_up()  # yt-dlp's one-time start-up, outside the measurement (and much faster)
    raised, peak = _peak_traced(lambda: fetch(url, tmp_path, limits))
    # Refused with a clear message once the decoded bytes pass the cap (a page's smaller cap
    # for HTML), and at no time holding more than a sliver of the 512 MiB in memory.
    assert isinstance(raised, DownloadTooLarge), raised
    assert ("web page" in str(raised)) == ctype.startswith("text/html")
    assert peak < 48 * MiB, f"{peak / MiB:.0f} MiB"
    assert leftovers(tmp_path) == []


def test_compressed_pages_still_work(server: LocalHTTPServer, tmp_path: Path) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Squeezed</title></head><body>"
        b'<audio src="/solo_trumpet.ogg"></audio></body></html>'
    )
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies = {
        "gzip": _gzip(iter([page])),
        "deflate": zlib.compress(page),  # zlib-wrapped, as the standard says
        "x-deflate-raw": raw_deflate.compress(page) + raw_deflate.flush(),  # what some send
    }
    for name, body in bodies.items():
        encoding = "deflate" if name.startswith("x-") else name
        url = server.static(
            f"/squeezed-{name}", body, {"Content-Type": "text/html", "Content-Encoding": encoding}
        )
        [audio] = fetch(url, tmp_path / name, LOCAL)
        assert audio.title == "Squeezed"
        assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()


def test_redirects_the_way_browsers_follow_them(server: LocalHTTPServer, tmp_path: Path) -> None:
    # The guarded handler follows redirects itself: a UTF-8 path in Location (sent raw, as
    # servers do) is followed; an impossible target is refused with a clear message.
    shutil.copy(server.root / "solo_trumpet.ogg", server.root / "sölo trumpet.ogg")

    def redirect(to: str) -> Any:
        def handler(request: Any) -> None:
            request.send_response(302)
            request.send_header("Location", to.encode().decode("latin-1"))
            request.send_header("Content-Length", "0")
            request.send_header("Connection", "close")
            request.end_headers()

        return handler

    server.route("/to-utf8", redirect("/sölo trumpet.ogg"))
    server.route("/to-bad-port", redirect("http://127.0.0.1:99999/x.ogg"))
    [audio] = fetch(server.url("to-utf8"), tmp_path / "a", LOCAL)
    assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
    with pytest.raises(UnsupportedLink):
        fetch(server.url("to-bad-port"), tmp_path / "b", LOCAL)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip, gzip"])
def test_encodings_that_cannot_be_bounded_are_refused(
    server: LocalHTTPServer, tmp_path: Path, encoding: str
) -> None:
    url = server.static(
        f"/enc-{len(encoding)}{encoding[:2]}",
        b"\x00" * 64,
        {"Content-Type": "audio/mpeg", "Content-Encoding": encoding},
    )
    with pytest.raises(FetchError, match="compressed file I can't unpack"):
        fetch(url, tmp_path, LOCAL)
    assert leftovers(tmp_path) == []


# -- pages that keep the extractor busy ----------------------------------------------------------


def _audio_page(n_tags: int) -> bytes:
    tags = "".join(f'<audio src="/missing/{i:06d}.mp3"></audio>\n' for i in range(n_tags))
    return (
        f"<!DOCTYPE html><html><head><title>Many</title></head><body>{tags}</body></html>".encode()
    )


def test_a_page_over_the_page_limit_is_refused_before_parsing(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    page = _audio_page(200_000)  # about 6.6 MB of <audio> tags
    url = server.static("/huge-page", page, {"Content-Type": "text/html"})
    limits = FetchLimits(allow_private=True, timeout_s=20, max_page_bytes=5 * MiB)
    server.clear_requests()
    with pytest.raises(DownloadTooLarge, match="web page is larger than the 5 MB"):
        fetch(url, tmp_path, limits)
    # Nothing the page listed was requested: it was never parsed.
    assert not any(r.path.startswith("/missing/") for r in server.requests)


class _LoopLag:
    """The longest the event loop went without running a 10 ms ticker, while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - before - 0.01)

    def __enter__(self) -> _LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_a_fetch_past_its_deadline_is_killed_and_the_bot_keeps_turning(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    from bot.service.app import EarwormService
    from bot.service.engine import AnalysisEngine
    from storage.db import Database

    # 12 MB of <audio> tags, under a page limit raised for the test: yt-dlp's generic
    # extractor parses it for far longer than the 1 s the fetch may take.
    page = _audio_page(360_000)
    url = server.static("/slow-to-parse", page, {"Content-Type": "text/html"})
    limits = FetchLimits(allow_private=True, timeout_s=1, max_page_bytes=16 * MiB)
    db = await Database.open(tmp_path / "t.db")
    service = EarwormService(db, AnalysisEngine(), limits)  # the analysis engine is not needed
    try:
        [worker] = (await service.fetcher.worker_pids())[:1]
        with _LoopLag() as lag:
            with pytest.raises(DownloadTimeout, match="took longer than 1 s"):
                await service.fetch_link(url)
        # The event loop kept turning (the parse ran in another process, not in a thread of
        # this one), and the process that was parsing is gone.
        assert lag.worst < 0.5, f"the loop stalled for {lag.worst:.2f} s"
        assert service.fetcher.stats().timeouts == 1
        assert await asyncio.to_thread(
            wait_until, lambda: not Path(f"/proc/{worker}").exists(), 10
        ), "the fetch worker is still alive"
        # The next link works, its progress reported from the worker, on the loop.
        events: list[dict[str, Any]] = []
        good = server.url("solo_trumpet.ogg")
        tmp, [audio] = await service.fetch_link(good, progress=events.append)
        assert audio.path.read_bytes() == (server.root / "solo_trumpet.ogg").read_bytes()
        service.discard_download(tmp)
        stages = [e["stage"] for e in events]
        assert stages[0] == "resolving" and stages[-1] == "done" and "downloading" in stages
    finally:
        await service.fetcher.close()
        await db.close()


# -- playlists and formats through a link --------------------------------------------------------


def test_hls_served_as_mpegurl_is_fetched(server: LocalHTTPServer, tmp_path: Path) -> None:
    playlist = (server.root / "hls" / "index.m3u8").read_bytes()
    url = server.static(
        "/hls/index.m3u8", playlist, {"Content-Type": "application/vnd.apple.mpegurl"}
    )
    [audio] = fetch(url, tmp_path, LOCAL)
    assert audio.duration_s == pytest.approx(6.0, abs=0.3)
    assert {r.path for r in server.requests} >= {f"/hls/seg00{i}.ts" for i in range(3)}


def test_hls_segments_are_checked_like_any_connection(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    playlist = (server.root / "hls" / "index.m3u8").read_text()
    blocked = playlist.replace("seg000.ts", f"http://127.0.0.2:{server.port}/hls/seg000.ts")
    url = server.static(
        "/hls/blocked.m3u8", blocked.encode(), {"Content-Type": "application/x-mpegurl"}
    )
    with pytest.raises(BlockedAddress):
        fetch_local_only(url, tmp_path, FetchLimits(timeout_s=20))
    assert leftovers(tmp_path) == []


def test_hls_segment_naming_a_local_file_is_never_read(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    secret = tmp_path / "private.ts"
    shutil.copy(server.root / "hls" / "seg000.ts", secret)
    playlist = (server.root / "hls" / "index.m3u8").read_text()
    evil = playlist.replace("seg000.ts", f"file://{secret}")
    url = server.static(
        "/hls/evil.m3u8", evil.encode(), {"Content-Type": "application/vnd.apple.mpegurl"}
    )
    with pytest.raises(FetchError):
        fetch(url, tmp_path, LOCAL)
    assert leftovers(tmp_path) == []


def test_a_playlist_disguised_as_mp3_is_not_audio(server: LocalHTTPServer, tmp_path: Path) -> None:
    # The same trick as an attachment (test_audio_hostile.py), through a link: the download
    # arrives, and the check that follows reads it with the one sniffer and a pinned ffprobe.
    secret = tmp_path / "private.ts"
    shutil.copy(server.root / "hls" / "seg000.ts", secret)
    body = (
        b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
        + f"file://{secret}\n#EXT-X-ENDLIST\n".encode()
        + b"\x00" * 16
    )
    url = server.static("/disguised.mp3", body, {"Content-Type": "audio/mpeg"})
    with pytest.raises(NotAudioLink, match="HLS/M3U playlist"):
        fetch(url, tmp_path, LOCAL)
    assert leftovers(tmp_path) == []


def test_video_with_sound_is_fetched_and_without_is_named(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    avi = server.static(
        "/clip-video", (server.root / "clip.avi").read_bytes(), {"Content-Type": "video/x-msvideo"}
    )
    [audio] = fetch(avi, tmp_path / "a", LOCAL)
    assert audio.path.suffix == ".avi" and audio.duration_s is not None and audio.duration_s > 3
    silent = server.static(
        "/silent-video",
        (server.root / "silent.avi").read_bytes(),
        {"Content-Type": "video/x-msvideo"},
    )
    with pytest.raises(NotAudioLink, match="That AVI video has no audio track"):
        fetch(silent, tmp_path / "b", LOCAL)
