"""Decode anything people send into mono float32 samples at 16 kHz.

The format is recognised from the content (never from the file name). WAV, FLAC, Ogg Vorbis, MP3
and AIFF are decoded in-process by libsndfile (``soundfile``), block by block, mixed down and
resampled with soxr as they stream in; Opus, M4A/MP4/AAC and WebM/Matroska go through an
``ffmpeg`` subprocess. libsndfile's Opus reader is not used: it stops with an error part-way
through ordinary Opus files. ffmpeg also takes over what libsndfile cannot open or would read
only in part (an Ogg with a video stream, chained Ogg streams) when it is installed.

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
from inference.frontend import SAMPLE_RATE

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | bytes | bytearray | memoryview
Decoder = Literal["soundfile", "ffmpeg"]

# Formats libsndfile decodes well; everything else sniff_format knows goes to ffmpeg.
SOUNDFILE_FORMATS = frozenset({"wav", "flac", "ogg", "mp3", "aiff"})
FFMPEG_FORMATS = frozenset({"opus", "m4a", "mp4", "aac", "webm", "mkv"})
SUPPORTED_FORMATS = SOUNDFILE_FORMATS | FFMPEG_FORMATS

_HEAD_BYTES = 4096  # enough to sniff every format we know, after any ID3 tag
_BLOCK_FRAMES = 1 << 17  # ~3 s at 44.1 kHz: few Python round trips, small memory
_DECODE_MARGIN_S = 5.0  # headers round and pad; only refuse clearly longer audio
_PROBE_TIMEOUT_S = 30.0
_UNKNOWN_FRAMES = 1 << 62  # libsndfile reports INT64_MAX frames when it cannot tell (chained Ogg)


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
# Sniffing


def sniff_format(head: bytes) -> str | None:
    """Name the audio format of a file from its first bytes (a few KB), or None if not audio.

    Returns one of ``SUPPORTED_FORMATS``: "wav" (RIFF/RF64/BW64 WAVE), "aiff", "flac", "ogg"
    (Vorbis or another codec in Ogg), "opus" (Opus in Ogg), "mp3" (ID3 tag or MPEG audio frames),
    "aac" (ADTS), "m4a"/"mp4" (ISO base media ``ftyp``), "webm"/"mkv" (EBML).
    """
    head = bytes(head)
    if _describe_non_audio(head) is not None:
        return None
    tag = _id3_size(head)
    if tag is not None:
        rest = head[tag:]
        # Look behind the tag (FLAC and ADTS files sometimes carry one too); a tag longer than
        # the head, or one followed by something unrecognised, is taken as MP3 (decoding will
        # report damage).
        return (sniff_format(rest) if len(rest) >= 4 else None) or "mp3"
    return _container_format(head) or _mpeg_at(head)


def _container_format(head: bytes) -> str | None:
    """Formats with a magic number at offset 0 (or 4 for ``ftyp``)."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        # The first pages hold each stream's header packet; "OpusHead" marks Opus.
        return "opus" if b"OpusHead" in head[:1024] else "ogg"
    if head[4:8] == b"ftyp":
        return "m4a" if head[8:11] in (b"M4A", b"M4B", b"M4P") else "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS: 12-bit sync, layer bits 00
    return None


def _id3_size(head: bytes) -> int | None:
    """Total length of a leading ID3v2 tag (header, body, optional footer), or None."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return None
    body = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]  # syncsafe integer
    footer = 10 if head[5] & 0x10 else 0
    return 10 + body + footer


# MPEG audio bitrates (kbit/s) by (is_mpeg1, layer); index 0 is "free format".
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_len(h: bytes) -> int | None:
    """Length in bytes of the MPEG audio frame whose 4-byte header is ``h`` (0 for free
    format), or None when ``h`` is not a valid header."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version, layer_bits = (h[1] >> 3) & 3, (h[1] >> 1) & 3
    br_idx, sr_idx, pad = h[2] >> 4, (h[2] >> 2) & 3, (h[2] >> 1) & 1
    if version == 1 or layer_bits == 0 or br_idx == 15 or sr_idx == 3:
        return None
    layer = 4 - layer_bits
    kbps = _BITRATES[(version == 3, layer)][br_idx]
    rate = _MPEG_RATES[version][sr_idx]
    if kbps == 0:
        return 0
    if layer == 1:
        return (12 * kbps * 1000 // rate + pad) * 4
    per_frame = 72 if (layer == 3 and version != 3) else 144
    return per_frame * kbps * 1000 // rate + pad


def _mpeg_at(head: bytes) -> str | None:
    """Return "mp3" if MPEG audio frames start the head (after zero padding), or if two
    chained frames appear further in (encoders and rippers leave junk in front)."""
    start = len(head) - len(head.lstrip(b"\x00"))
    for offset in range(start, len(head) - 3):
        if head[offset] != 0xFF:
            continue
        length = _mpeg_frame_len(head[offset : offset + 4])
        if length is None:
            continue
        nxt = offset + length
        if length == 0 or nxt + 4 > len(head):
            if offset == start:
                return "mp3"  # cannot check the next frame; a clean start is enough
            continue
        if _mpeg_frame_len(head[nxt : nxt + 4]) is not None:
            return "mp3"
    return None


_NON_AUDIO_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"MThd", "a MIDI file (notes, not recorded sound)"),
)


def _describe_non_audio(head: bytes) -> str | None:
    """A short name for well-known non-audio content ("a PNG image"), else None."""
    for magic, what in _NON_AUDIO_MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "a HEIC/AVIF image"
    return _describe_text(head)


def _describe_text(head: bytes) -> str | None:
    """Name UTF-8 text content ("a text file", "a web page (HTML)", ...), else None."""
    if not head or b"\x00" in head:
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    # A multi-byte character cut off at the end of the head gives one replacement mark.
    if not text or text.count("\ufffd") > 1 + 0.01 * len(text):
        return None
    printable = sum(c.isprintable() or c in "\t\r\n" for c in text)
    if printable < 0.95 * len(text):
        return None
    lower = text[:256].lower()
    if lower.startswith(("<!doctype html", "<html")) or "<html" in lower:
        return "a web page (HTML)"
    if lower.startswith(("<?xml", "<svg")):
        return "an XML or SVG file"
    return "a text file"


# ---------------------------------------------------------------------------------------------
# Input handling


_LABELS = {
    "wav": "WAV", "aiff": "AIFF", "flac": "FLAC", "ogg": "Ogg", "opus": "Opus", "mp3": "MP3",
    "aac": "AAC", "m4a": "M4A", "mp4": "MP4", "webm": "WebM", "mkv": "Matroska",
}  # fmt: skip


@dataclass
class _Input:
    """One input. Bytes stay in memory (libsndfile reads them through BytesIO); ffmpeg gets a
    path, a temp file for bytes, because an MP4 with its index at the end cannot be piped."""

    data: bytes | None
    path: str | None
    head: bytes  # the first bytes after any leading ID3 tag
    id3: bool
    tmp: str | None = None

    @property
    def format(self) -> str | None:
        fmt = sniff_format(self.head)
        if fmt is None and self.id3 and _describe_non_audio(self.head) is None:
            return "mp3"  # ID3 tag then something unrecognised: MP3 or damage, decoding tells
        return fmt

    def for_soundfile(self) -> str | io.BytesIO:
        return io.BytesIO(self.data) if self.data is not None else str(self.path)

    def for_ffmpeg(self) -> str:
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
    inp = _Input(data=data, path=path, head=head, id3=id3)
    try:
        yield inp
    finally:
        inp.close()


def _read_head(data: bytes | None, path: str | None) -> tuple[bytes, bool]:
    """The first bytes after a leading ID3 tag (which can hold megabytes of cover art)."""
    if data is not None:
        tag = _id3_size(data[:10]) or 0
        return data[tag : tag + _HEAD_BYTES], tag > 0
    assert path is not None
    with open(path, "rb") as f:
        tag = _id3_size(f.read(10)) or 0
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
    if fmt is None:
        raise UnsupportedFormat(_unsupported_message(inp.head))
    decoder: Decoder = "soundfile"
    info = _soundfile_info(inp, fmt) if fmt in SOUNDFILE_FORMATS else None
    if info is not None and _which("ffmpeg") is not None and _libsndfile_reads_part(inp, info):
        info = None
    if info is None:
        # ffmpeg formats, and files libsndfile cannot open (an Ogg with a video stream first,
        # a WAV holding MP3 data, ...).
        if fmt in SOUNDFILE_FORMATS and _which("ffmpeg") is None:
            raise CorruptAudio(
                f"Couldn't read this {_LABELS[fmt]} file: it is damaged, or needs ffmpeg, "
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


def _unsupported_message(head: bytes) -> str:
    what = _describe_non_audio(head)
    if what is not None:
        return f"That's {what}, not audio."
    return (
        "That doesn't look like an audio file. "
        "Send MP3, WAV, FLAC, Ogg, Opus, M4A/AAC or WebM audio."
    )


def _soundfile_info(inp: _Input, fmt: str) -> AudioInfo | None:
    """The header as libsndfile reads it, or None when libsndfile cannot open the file."""
    try:
        i = sf.info(inp.for_soundfile())
    except (RuntimeError, ValueError, TypeError):
        return None
    known = 0 <= i.frames < _UNKNOWN_FRAMES and i.samplerate > 0
    duration = i.frames / i.samplerate if known else math.nan
    return AudioInfo(format=fmt, duration_s=duration, sample_rate=i.samplerate, channels=i.channels)


def _ffprobe_info(inp: _Input, fmt: str, limits: AudioLimits) -> AudioInfo:
    ffprobe = _require_tool("ffprobe", fmt)
    cmd = [
        ffprobe, "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=sample_rate,channels,duration:format=duration",
        "-of", "json", inp.for_ffmpeg(),
    ]  # fmt: skip
    proc = _run(cmd, min(_PROBE_TIMEOUT_S, limits.decode_timeout_s), fmt)
    try:
        meta = json.loads(proc.stdout or b"{}")
    except ValueError:
        meta = {}
    if proc.returncode != 0 or not isinstance(meta, dict):
        log.info("ffprobe failed on %s: %s", fmt, proc.stderr[-500:].decode(errors="replace"))
        raise CorruptAudio(f"Couldn't read this {_LABELS[fmt]} file; it may be damaged.")
    streams = meta.get("streams") or []
    if not streams:
        raise UnsupportedFormat(f"That {_LABELS[fmt]} file has no audio track.")
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
    duration ``n / rate``. Channels are averaged; NaN and inf samples become 0. A truncated
    file yields what decodes before the damage. Raises what ``probe`` raises, plus CorruptAudio
    (nothing decodes), AudioTooLong (decodes past ``max_duration_s`` whatever the header said),
    EmptyInput (no samples) and AudioTooShort (under ``min_duration_s``).
    """
    with _open_input(source, limits) as inp:
        info, decoder = _probe(inp, limits)
        samples = _decode_soundfile(inp, info, limits, rate) if decoder == "soundfile" else None
        if samples is None:
            samples = _decode_ffmpeg(inp, info, limits, rate)
    samples = _finish(samples, limits, rate)
    duration = samples.size / rate
    return samples, AudioInfo(info.format, duration, info.sample_rate, info.channels)


def _decode_soundfile(
    inp: _Input, info: AudioInfo, limits: AudioLimits, rate: int
) -> np.ndarray | None:
    """Blockwise libsndfile decode: mix down and resample as blocks arrive, so memory stays
    near the size of the output. None when nothing could be decoded (then ffmpeg may try)."""
    chunks: list[np.ndarray] = []
    frames = 0
    try:
        with sf.SoundFile(inp.for_soundfile()) as f:
            cap = math.ceil((limits.max_duration_s + _DECODE_MARGIN_S) * f.samplerate)
            stream = _resampler(f.samplerate, rate)
            # Loop on read() until it returns nothing: blocks() would spin forever on files
            # whose frame count is unknown (chained Ogg reports INT64_MAX).
            while len(block := f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
                frames += len(block)
                if frames > cap:
                    raise _too_long_while_decoding(limits)
                chunks.append(_resample(stream, _to_mono(block), last=False))
    except (RuntimeError, ValueError, TypeError) as e:
        if frames == 0:
            log.info("libsndfile could not decode this %s: %s", info.format, e)
            return _nothing_decoded(info)
        # Truncated or damaged part-way: keep what decoded before the damage.
        log.warning("%s decoding stopped after %d frames: %s", info.format, frames, e)
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    chunks.append(_resample(stream, np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(chunks)


def _nothing_decoded(info: AudioInfo) -> None:
    """libsndfile failed at the start: let ffmpeg try if there is one, else give up."""
    if _which("ffmpeg") is None:
        raise CorruptAudio(f"Couldn't decode this {_LABELS[info.format]} file; it may be damaged.")
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


def _decode_ffmpeg(inp: _Input, info: AudioInfo, limits: AudioLimits, rate: int) -> np.ndarray:
    """ffmpeg decodes, mixes down and resamples; stops itself just past the duration cap."""
    ffmpeg = _require_tool("ffmpeg", info.format)
    cap_s = limits.max_duration_s + _DECODE_MARGIN_S
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", inp.for_ffmpeg(), "-map", "0:a:0", "-vn"]
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
                f"Couldn't decode this {_LABELS[info.format]} file; it may be damaged."
            )
        log.warning("ffmpeg stopped part-way through %s: %s", info.format, err)
    if n > cap_s * rate:
        raise _too_long_while_decoding(limits)
    # Copy out of the immutable bytes: callers get a writable array.
    return np.frombuffer(proc.stdout, dtype="<f4", count=n).astype(np.float32)


def _finish(samples: np.ndarray, limits: AudioLimits, rate: int) -> np.ndarray:
    if samples.size == 0:
        raise EmptyInput("That file contains no audio.")
    duration = samples.size / rate
    if duration < limits.min_duration_s:
        raise AudioTooShort(
            f"That's too short: {duration:.1f} s, need at least {limits.min_duration_s:g} s."
        )
    return _zero_non_finite(np.ascontiguousarray(samples, dtype=np.float32))


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
            f"Decoding {_LABELS.get(fmt, fmt)} audio needs ffmpeg, which is not installed: "
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
            f"Decoding this {_LABELS.get(fmt, fmt)} file took over {timeout_s:g} s; "
            "it may be damaged."
        ) from e


def _as_float(value: object, default: float = math.nan) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _fmt_duration(seconds: float) -> str:
    """Human-readable: "0.2 s", "42 s", "4 min 5 s", "1 h 5 min"."""
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
