"""Decode anything people send into mono float32 samples at 16 kHz.

The format is recognised from the content, never from the file name (``inference.formats``).
WAV, Wave64, AIFF, Sun/NeXT AU, CAF, FLAC, Ogg Vorbis and MP3 are decoded in-process by libsndfile
(``soundfile``), block by block, mixed down and resampled with soxr as they stream in; Opus,
M4A/MP4/AAC, WebM/Matroska, WMA, AMR, MPEG-TS, AVI and the other containers in
``inference.formats.CONTAINERS`` (video files too: their first audio track) go through an
``ffmpeg`` subprocess. libsndfile's Opus reader is not used: it stops with an error part-way
through ordinary Opus files. ffmpeg also takes over what libsndfile cannot open or would read
only in part (an Ogg with a video stream, chained Ogg streams, AAC in CAF) when it is installed.
Other formats libsndfile recognises by itself (VOC, IRCAM, ...) are read by libsndfile only.

ffmpeg and ffprobe only ever read the one container we sniffed: the demuxer is forced (``-f``)
and whitelisted (``-format_whitelist``, which also binds any nested demuxer), and the only
protocol allowed is ``file`` for that one input. Left to guess, ffmpeg picks a demuxer by content,
and an "MP3" that is really an HLS or DASH playlist would make it open the files it lists.

Samples are kept finite and within full scale: NaN and infinity become 0, and a file whose peak
is over 1.0 (floating-point files can hold any value) is scaled down to a peak of 1.0.

Length is checked twice: ``probe`` reads the duration the header declares (cheap, refuses a tiny
file that declares hours), and decoding stops at ``max_duration_s`` plus a small margin (a header
that says short but decodes long, or says nothing, cannot run away with memory).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from inference.errors import (
    AudioTooLong,
    AudioTooShort,
    CorruptAudio,
    EmptyInput,
    InputTooLarge,
    MissingDecoder,
    UnsupportedFormat,
)
from inference.formats import CONTAINERS, describe_non_audio, id3_size, label, sniff_format
from inference.frontend import SAMPLE_RATE

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
Decoder = Literal["soundfile", "ffmpeg"]

_HEAD_BYTES = 4096  # enough to sniff every format we know, after any ID3 tag
_BLOCK_FRAMES = 1 << 17  # ~3 s at 44.1 kHz: few Python round trips, small memory
_DECODE_MARGIN_S = 5.0  # headers round and pad; only refuse clearly longer audio
_PROBE_TIMEOUT_S = 30.0
_UNKNOWN_FRAMES = 1 << 62  # libsndfile reports INT64_MAX frames when it cannot tell (chained Ogg)
_TINY_BYTES = 128  # unrecognised and smaller than this: say it is too small, not "not audio"
# libsndfile's names for formats that have an entry in CONTAINERS.
_SNDFILE_NAMES = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "W64": "w64", "AIFF": "aiff",
                  "AU": "au", "CAF": "caf", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}  # fmt: skip


@dataclass(frozen=True)
class AudioLimits:
    """Caps on what we accept. ``decode_timeout_s`` bounds an ffmpeg subprocess."""

    max_bytes: int = 50 * 2**20
    max_duration_s: float = 20 * 60
    min_duration_s: float = 1.0
    decode_timeout_s: float = 120.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file is. From ``probe``: the header's declared duration (``math.nan`` when the
    header does not say). From ``decode``: the decoded duration. ``sample_rate`` and ``channels``
    describe the source, not the 16 kHz mono output."""

    format: str
    duration_s: float
    sample_rate: int
    channels: int


# ---------------------------------------------------------------------------------------------
# Input handling


@dataclass
class _Input:
    """One input. Bytes stay in memory (libsndfile reads them through BytesIO); ffmpeg gets a
    path, a temp file for bytes, because an MP4 with its index at the end cannot be piped."""

    data: bytes | None
    path: str | None
    size: int
    head: bytes  # the first bytes after any leading ID3 tag
    id3: bool
    tmp: str | None = None

    @property
    def format(self) -> str | None:
        fmt = sniff_format(self.head)
        if fmt is None and self.id3 and describe_non_audio(self.head) is None:
            return "mp3"  # ID3 tag then something unrecognised: MP3 or damage, decoding tells
        return fmt

    def for_soundfile(self) -> str | io.BytesIO:
        return io.BytesIO(self.data) if self.data is not None else str(self.path)

    def for_ffmpeg(self, fmt: str) -> list[str]:
        """ffmpeg/ffprobe input options: this one file, read by the sniffed container's demuxer
        only, through the ``file`` protocol only."""
        demuxer = CONTAINERS[fmt].demuxer
        return [
            "-protocol_whitelist", "file", "-format_whitelist", demuxer, "-f", demuxer,
            "-i", "file:" + os.path.abspath(self._local_path()),
        ]  # fmt: skip

    def _local_path(self) -> str:
        if self.path is not None:
            return self.path
        if self.tmp is None:
            fd, self.tmp = tempfile.mkstemp(prefix="earworm-", suffix=".audio")
            with os.fdopen(fd, "wb") as f:
                f.write(self.data or b"")
        return self.tmp

    def close(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None


@contextmanager
def _open_input(source: Source, limits: AudioLimits) -> Iterator[_Input]:
    """Size checks and the head, without reading a large file whole."""
    if isinstance(source, bytes | bytearray | memoryview):
        data: bytes | None = bytes(source)
        path = None
        size = len(data)
    else:
        data, path = None, os.fspath(source)
        size = os.path.getsize(path)
    if size == 0:
        raise EmptyInput("The file is empty.")
    if size > limits.max_bytes:
        raise InputTooLarge(
            f"That file is {_fmt_bytes(size)}; the limit is {_fmt_bytes(limits.max_bytes)}."
        )
    head, id3 = _read_head(data, path)
    inp = _Input(data=data, path=path, size=size, head=head, id3=id3)
    try:
        yield inp
    finally:
        inp.close()


def _read_head(data: bytes | None, path: str | None) -> tuple[bytes, bool]:
    """The first bytes after a leading ID3 tag (which can hold megabytes of cover art)."""
    if data is not None:
        tag = id3_size(data[:10]) or 0
        return data[tag : tag + _HEAD_BYTES], tag > 0
    assert path is not None
    with open(path, "rb") as f:
        tag = id3_size(f.read(10)) or 0
        f.seek(tag)
        return f.read(_HEAD_BYTES), tag > 0


# ---------------------------------------------------------------------------------------------
# Probing


def probe(source: Source, limits: AudioLimits = AudioLimits()) -> AudioInfo:
    """Check size, format and the declared duration without decoding the audio.

    ``source`` is a path or the file's bytes. Raises EmptyInput, InputTooLarge,
    UnsupportedFormat, MissingDecoder, CorruptAudio or AudioTooLong. Short input is only refused
    by ``decode``, which knows the real length.
    """
    with _open_input(source, limits) as inp:
        info, _ = _probe(inp, limits)
        return info


def _probe(inp: _Input, limits: AudioLimits) -> tuple[AudioInfo, Decoder]:
    fmt = inp.format
    decoder: Decoder = "soundfile"
    if fmt is None:
        # Not a container we sniff; libsndfile may still know it (VOC, IRCAM, ...). It reads
        # only the bytes it is given, so trying it is safe; ffmpeg is never left to guess.
        info = _soundfile_info(inp, None) if describe_non_audio(inp.head) is None else None
        if info is None:
            raise UnsupportedFormat(_unsupported_message(inp))
        fmt = info.format
    else:
        info = _soundfile_info(inp, fmt) if CONTAINERS[fmt].soundfile else None
    if info is not None and _which("ffmpeg") is not None and _libsndfile_reads_part(inp, info):
        info = None
    if info is None:
        # ffmpeg formats, and files libsndfile cannot open (an Ogg with a video stream first,
        # a WAV holding MP3 data, AAC in CAF, ...).
        if CONTAINERS[fmt].soundfile and _which("ffmpeg") is None:
            raise CorruptAudio(
                f"Couldn't read this {label(fmt)} file: it is damaged, or needs ffmpeg, "
                "which is not installed."
            )
        info, decoder = _ffprobe_info(inp, fmt, limits), "ffmpeg"
    if info.duration_s > limits.max_duration_s:  # False for nan (unknown)
        raise AudioTooLong(
            f"That's {_fmt_duration(info.duration_s)} of audio; "
            f"the limit is {_fmt_duration(limits.max_duration_s)}."
        )
    return info, decoder


def _libsndfile_reads_part(inp: _Input, info: AudioInfo) -> bool:
    """True for chained (or multiplexed) Ogg, of which libsndfile decodes only the first
    stream; it then reports an unknown or a too-short length. ffmpeg reads them whole."""
    if info.format != "ogg":
        return False
    if math.isnan(info.duration_s):
        return True
    if inp.data is not None:
        tail = inp.data[-65536:]
    else:
        with open(str(inp.path), "rb") as f:
            f.seek(max(0, os.path.getsize(str(inp.path)) - 65536))
            tail = f.read()
    last = tail.rfind(b"OggS")
    if last < 0 or last + 18 > len(tail):
        return False  # truncated: libsndfile reads what is there
    # Bytes 14..17 of an Ogg page header are the stream's serial number.
    return tail[last + 14 : last + 18] != inp.head[14:18]


def _unsupported_message(inp: _Input) -> str:
    what = describe_non_audio(inp.head)
    if what is not None:
        return f"That's {what}, not audio."
    if inp.size < _TINY_BYTES:
        size = "1 byte" if inp.size == 1 else f"{inp.size} bytes"
        return f"That file is only {size}: too small to hold any audio."
    return (
        "That doesn't look like an audio file. Send MP3, WAV, FLAC, Ogg, Opus, M4A/AAC, WMA, "
        "AIFF or AU audio, or a video with sound."
    )


def _soundfile_info(inp: _Input, fmt: str | None) -> AudioInfo | None:
    """The header as libsndfile reads it, or None when libsndfile cannot open the file.
    ``fmt`` None: name the format as libsndfile does."""
    try:
        i = sf.info(inp.for_soundfile())
    except (RuntimeError, ValueError, TypeError):
        return None
    if fmt is None:
        fmt = _SNDFILE_NAMES.get(i.format, i.format.lower())
    known = 0 <= i.frames < _UNKNOWN_FRAMES and i.samplerate > 0
    duration = i.frames / i.samplerate if known else math.nan
    return AudioInfo(format=fmt, duration_s=duration, sample_rate=i.samplerate, channels=i.channels)


def _ffprobe_info(inp: _Input, fmt: str, limits: AudioLimits) -> AudioInfo:
    ffprobe = _require_tool("ffprobe", fmt)
    cmd = [
        ffprobe, "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=sample_rate,channels,duration:format=duration",
        "-of", "json", *inp.for_ffmpeg(fmt),
    ]  # fmt: skip
    proc = _run(cmd, min(_PROBE_TIMEOUT_S, limits.decode_timeout_s), fmt)
    try:
        meta = json.loads(proc.stdout or b"{}")
    except ValueError:
        meta = {}
    if proc.returncode != 0 or not isinstance(meta, dict):
        log.info("ffprobe failed on %s: %s", fmt, proc.stderr[-500:].decode(errors="replace"))
        raise CorruptAudio(f"Couldn't read this {label(fmt)} file; it may be damaged.")
    streams = meta.get("streams") or []
    if not streams:
        kind = "video" if CONTAINERS[fmt].video else "file"
        raise UnsupportedFormat(f"That {label(fmt)} {kind} has no audio track.")
    stream = streams[0]
    duration = _as_float(stream.get("duration"))
    if math.isnan(duration):
        duration = _as_float((meta.get("format") or {}).get("duration"))
    return AudioInfo(
        format=fmt,
        duration_s=duration,
        sample_rate=int(_as_float(stream.get("sample_rate"), 0.0)),
        channels=int(stream.get("channels") or 0),
    )


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(
    source: Source, limits: AudioLimits = AudioLimits(), rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, AudioInfo]:
    """Decode ``source`` (a path or the file's bytes) to mono float32 at ``rate`` (16 kHz).

    Returns ``(samples [n] float32 contiguous, info)`` where ``info.duration_s`` is the decoded
    duration ``n / rate``. Channels are averaged; NaN and inf samples become 0; a peak over
    full scale is scaled down to 1.0. A truncated file yields what decodes before the damage.
    Raises what ``probe`` raises, plus CorruptAudio (nothing decodes), AudioTooLong (decodes past
    ``max_duration_s`` whatever the header said), EmptyInput (no samples) and AudioTooShort
    (under ``min_duration_s``, however few samples).
    """
    with _open_input(source, limits) as inp:
        info, decoder = _probe(inp, limits)
        decoded = _decode_soundfile(inp, info, limits, rate) if decoder == "soundfile" else None
        if decoded is None:
            decoded = _decode_ffmpeg(inp, info, limits, rate)
    samples = _finish(*decoded, info.format, limits, rate)
    duration = samples.size / rate
    return samples, AudioInfo(info.format, duration, info.sample_rate, info.channels)


# What a decoder returns: the samples at the target rate, and how many seconds of the source they came from
# (a 1-sample file resamples to nothing, yet it is short rather than empty).
_Decoded = tuple[np.ndarray, float]


def _decode_soundfile(
    inp: _Input, info: AudioInfo, limits: AudioLimits, rate: int
) -> _Decoded | None:
    """Blockwise libsndfile decode: mix down and resample as blocks arrive, so memory stays
    near the size of the output. None when nothing could be decoded (then ffmpeg may try)."""
    chunks: list[np.ndarray] = []
    frames = 0
    source_rate = max(1, info.sample_rate)
    try:
        with sf.SoundFile(inp.for_soundfile()) as f:
            source_rate = f.samplerate
            cap = math.ceil((limits.max_duration_s + _DECODE_MARGIN_S) * f.samplerate)
            gain = _float_file_gain(f, cap) if f.subtype in ("FLOAT", "DOUBLE") else None
            stream = _resampler(f.samplerate, rate)
            # Loop on read() until it returns nothing: blocks() would spin forever on files
            # whose frame count is unknown (chained Ogg reports INT64_MAX).
            while len(block := f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                frames += len(block)
                if frames > cap:
                    raise _too_long_while_decoding(limits)
                if gain is not None:
                    block *= gain
                chunks.append(_resample(stream, _to_mono(block), last=False))
    except (RuntimeError, ValueError, TypeError) as e:
        if frames == 0:
            log.info("libsndfile could not decode this %s: %s", info.format, e)
            return _nothing_decoded(info)
        # Truncated or damaged part-way: keep what decoded before the damage.
        log.warning("%s decoding stopped after %d frames: %s", info.format, frames, e)
    if not chunks:
        return np.zeros(0, dtype=np.float32), 0.0
    chunks.append(_resample(stream, np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(chunks), frames / source_rate


def _float_file_gain(f: sf.SoundFile, cap_frames: int) -> np.float32 | None:
    """For a floating-point file whose samples go beyond full scale: the gain that brings its
    peak to 1.0 (None when it is within full scale). Found by one extra read, so that every block
    is scaled before mixing and resampling, which would overflow to inf on values near 1e38."""
    peak, frames = 0.0, 0
    while frames <= cap_frames and len(block := f.read(_BLOCK_FRAMES, dtype="float32")):
        frames += len(block)
        finite = np.where(np.isfinite(block), block, np.float32(0.0))
        peak = max(peak, float(finite.max()), -float(finite.min()))
    f.seek(0)
    return np.float32(1.0 / peak) if peak > 1.0 else None


def _nothing_decoded(info: AudioInfo) -> None:
    """libsndfile failed at the start: let ffmpeg try if there is one (and the container has a
    demuxer to pin it to), else give up."""
    if _which("ffmpeg") is None or info.format not in CONTAINERS:
        raise CorruptAudio(f"Couldn't decode this {label(info.format)} file; it may be damaged.")
    return None


def _resampler(rate: int, target: int) -> soxr.ResampleStream | None:
    if rate == target:
        return None
    return soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")


def _resample(stream: soxr.ResampleStream | None, x: np.ndarray, last: bool) -> np.ndarray:
    return x if stream is None else stream.resample_chunk(x, last=last)


def _to_mono(block: np.ndarray) -> np.ndarray:
    """[frames, channels] -> [frames], the mean of the channels, NaN/inf zeroed (before the
    resampler, which would smear one NaN over its whole filter length)."""
    if block.shape[1] == 1:
        mono = block[:, 0].copy()
    else:
        # A matrix-vector product is several times faster than mean(axis=1) on [n, 2].
        mono = block @ np.full(block.shape[1], 1.0 / block.shape[1], dtype=np.float32)
    return _zero_non_finite(mono)


def _zero_non_finite(x: np.ndarray) -> np.ndarray:
    """NaN and +-inf -> 0, in place. One fast sum detects them (both propagate into it), so
    clean audio skips the much slower nan_to_num pass."""
    if not np.isfinite(x.sum()):
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _decode_ffmpeg(inp: _Input, info: AudioInfo, limits: AudioLimits, rate: int) -> _Decoded:
    """ffmpeg decodes, mixes down and resamples; stops itself just past the duration cap."""
    ffmpeg = _require_tool("ffmpeg", info.format)
    cap_s = limits.max_duration_s + _DECODE_MARGIN_S
    cmd = [ffmpeg, "-nostdin", "-v", "error", *inp.for_ffmpeg(info.format), "-map", "0:a:0", "-vn"]
    if info.channels > 1:
        # ffmpeg's own downmix scales by 1/sqrt(2); average like the libsndfile path does.
        gains = "+".join(f"{1 / info.channels:.6f}*c{i}" for i in range(info.channels))
        cmd += ["-af", f"pan=mono|c0={gains}"]
    cmd += ["-ac", "1", "-ar", str(rate), "-t", f"{cap_s + 1:.3f}", "-f", "f32le", "-"]
    proc = _run(cmd, limits.decode_timeout_s, info.format)
    n = len(proc.stdout) // 4
    if proc.returncode != 0:
        err = proc.stderr[-500:].decode(errors="replace")
        if n == 0:
            log.info("ffmpeg failed on %s: %s", info.format, err)
            raise CorruptAudio(
                f"Couldn't decode this {label(info.format)} file; it may be damaged."
            )
        log.warning("ffmpeg stopped part-way through %s: %s", info.format, err)
    if n > cap_s * rate:
        raise _too_long_while_decoding(limits)
    # Copy out of the immutable bytes: callers get a writable array.
    samples = np.frombuffer(proc.stdout, dtype="<f4", count=n).astype(np.float32)
    declared = info.duration_s if n == 0 and info.duration_s > 0 else 0.0  # nan: False
    return samples, max(n / rate, declared)


def _finish(
    samples: np.ndarray, source_s: float, fmt: str, limits: AudioLimits, rate: int
) -> np.ndarray:
    """Refuse empty or too short audio; make the samples finite and at most full scale."""
    if samples.size == 0 and not 0 < source_s < limits.min_duration_s:
        raise EmptyInput(f"That {label(fmt)} file contains no audio (no samples at all).")
    duration = max(samples.size / rate, source_s)
    if duration < limits.min_duration_s:
        raise AudioTooShort(
            f"That's too short: {_fmt_duration(duration)}, "
            f"need at least {limits.min_duration_s:g} s."
        )
    samples = _zero_non_finite(np.ascontiguousarray(samples, dtype=np.float32))
    return _within_full_scale(samples)


def _within_full_scale(x: np.ndarray) -> np.ndarray:
    """Scale ``x`` down, in place, when its peak is over 1.0: a floating-point file can hold
    any finite value (x1e17 overflows the spectrogram to inf and NaN; even x8 sounds different
    to the models, whose log-mel front end expects full scale at most). libsndfile's float files
    arrive scaled already (``_float_file_gain``); this catches ffmpeg's and resampler overshoot."""
    peak = max(float(x.max()), -float(x.min()))
    if peak > 1.0:
        log.info("samples reach %.3g, over full scale: scaled to a peak of 1", peak)
        x *= np.float32(1.0 / peak)
    return x


def _too_long_while_decoding(limits: AudioLimits) -> AudioTooLong:
    limit = _fmt_duration(limits.max_duration_s)
    return AudioTooLong(f"That decodes to more than {limit} of audio; the limit is {limit}.")


# ---------------------------------------------------------------------------------------------
# Helpers


def _which(tool: str) -> str | None:
    return shutil.which(tool)


def _require_tool(tool: str, fmt: str) -> str:
    """Path of ffmpeg/ffprobe, or MissingDecoder naming ffmpeg (the package has both)."""
    path = _which(tool)
    if path is None:
        raise MissingDecoder(
            f"Decoding {label(fmt)} audio needs ffmpeg, which is not installed: "
            "apt-get install ffmpeg"
        )
    return path


def _run(cmd: list[str], timeout_s: float, fmt: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise CorruptAudio(
            f"Decoding this {label(fmt)} file took over {timeout_s:g} s; it may be damaged."
        ) from e


def _as_float(value: object, default: float = math.nan) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _fmt_duration(seconds: float) -> str:
    """Human-readable: "0.023 ms", "0.2 s", "42 s", "4 min 5 s", "1 h 5 min"."""
    if seconds < 0.05:
        return f"{seconds * 1000:.2g} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _fmt_bytes(n: int) -> str:
    mb = n / 2**20
    if mb >= 10:
        return f"{mb:.0f} MB"
    if mb >= 1:
        return f"{mb:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"
