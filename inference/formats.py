"""What a file is, from its first bytes: the one sniffer for audio (and audio-carrying video).

Every container we accept has an entry in :data:`CONTAINERS`: its name for people, the ffmpeg
demuxer that must read it (ffmpeg is never left to guess: a guessed demuxer can be a playlist
that opens other files), whether libsndfile reads it in-process, and its usual file endings.
:func:`sniff_format` names the container from the content, never from the file name;
:func:`describe_non_audio` names common things that are not audio, so refusals can say what
was sent ("That's an HLS playlist, not audio").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUDIO_EXTENSIONS",
    "CONTAINERS",
    "Container",
    "describe_non_audio",
    "id3_size",
    "label",
    "sniff_format",
]


@dataclass(frozen=True)
class Container:
    label: str  # for messages: "That AVI file has no audio track."
    demuxer: str  # ffmpeg's -f / -format_whitelist name
    extensions: tuple[str, ...]  # the first one names a downloaded file
    soundfile: bool = False  # libsndfile decodes it in-process (ffmpeg is the fallback)
    video: bool = False  # may carry pictures only, no sound


CONTAINERS: dict[str, Container] = {
    "wav": Container("WAV", "wav", ("wav", "wave", "bwf", "rf64"), soundfile=True),
    "w64": Container("Wave64", "w64", ("w64",), soundfile=True),
    "aiff": Container("AIFF", "aiff", ("aiff", "aif", "aifc"), soundfile=True),
    "au": Container("Sun/NeXT AU", "au", ("au", "snd"), soundfile=True),
    "caf": Container("CAF", "caf", ("caf",), soundfile=True),
    "flac": Container("FLAC", "flac", ("flac",), soundfile=True),
    "ogg": Container("Ogg", "ogg", ("ogg", "oga"), soundfile=True),
    "opus": Container("Opus", "ogg", ("opus",)),  # libsndfile's Opus reader stops part-way
    "mp3": Container("MP3", "mp3", ("mp3",), soundfile=True),
    "aac": Container("AAC", "aac", ("aac",)),
    "m4a": Container("M4A", "mov", ("m4a", "m4b", "alac")),
    "mp4": Container("MP4", "mov", ("mp4", "m4v", "mov", "3gp", "3g2"), video=True),
    "webm": Container("WebM", "matroska", ("webm",), video=True),
    "mkv": Container("Matroska", "matroska", ("mkv", "mka"), video=True),
    "asf": Container("WMA/WMV", "asf", ("wma", "wmv", "asf"), video=True),
    "amr": Container("AMR", "amr", ("amr", "awb")),
    "mpegts": Container("MPEG-TS", "mpegts", ("ts", "m2ts", "mts"), video=True),
    "mpeg": Container("MPEG program stream", "mpeg", ("mpg", "mpeg", "vob"), video=True),
    "avi": Container("AVI", "avi", ("avi",), video=True),
    "flv": Container("FLV", "flv", ("flv",), video=True),
    "ape": Container("Monkey's Audio", "ape", ("ape",)),
    "wv": Container("WavPack", "wv", ("wv",)),
}

#: File name endings (".mp3", ...) of everything in CONTAINERS: for choosing files in a folder or
#: attachments without a content type. The content decides what a file really is.
AUDIO_EXTENSIONS = frozenset(f".{e}" for c in CONTAINERS.values() for e in c.extensions)


def label(fmt: str) -> str:
    """The name of a format for messages ("Sun/NeXT AU"); unknown names are upper-cased."""
    container = CONTAINERS.get(fmt)
    return container.label if container is not None else fmt.upper()


# ---------------------------------------------------------------------------------------------
# Sniffing

_W64_RIFF = bytes.fromhex("726966662e91cf11a5d628db04c10000")
_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def sniff_format(head: bytes) -> str | None:
    """The key in CONTAINERS of the file whose first bytes (a few KB) are ``head``, or None.

    Unambiguous magic numbers are checked first, then well-known non-audio content (an image,
    text, a playlist: None), then the weak signatures (MPEG audio frames, ADTS, MPEG-TS sync
    bytes). Content behind a leading ID3 tag is sniffed too; an ID3 tag followed by something
    unrecognised is taken as MP3 (decoding, pinned to the MP3 demuxer, reports damage).
    """
    head = bytes(head)
    fmt = _magic_format(head)
    if fmt is not None:
        return fmt
    if describe_non_audio(head) is not None:
        return None
    tag = id3_size(head)
    if tag is not None:
        rest = head[tag:]
        if len(rest) < 4:  # a tag longer than the head (cover art): cannot look behind it
            return "mp3"
        if describe_non_audio(rest) is not None:
            return None
        return sniff_format(rest) or "mp3"
    return _weak_format(head)


def _magic_format(head: bytes) -> str | None:
    """Formats with a magic number of four bytes or more at a fixed offset."""
    four = head[:4]
    if four in (b"RIFF", b"RF64", b"BW64"):
        kind = head[8:12]
        return {b"WAVE": "wav", b"AVI ": "avi"}.get(kind)
    if four == b"riff" and head[:16] == _W64_RIFF:
        return "w64"
    if four == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if four == b"fLaC":
        return "flac"
    if four == b"OggS":
        # The first pages hold each stream's header packet; "OpusHead" marks Opus.
        return "opus" if b"OpusHead" in head[:1024] else "ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return None
        return "m4a" if brand[:3] in (b"M4A", b"M4B", b"M4P") else "mp4"
    if four == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if four == b".snd":
        return "au"
    if four == b"caff":
        return "caf"
    if head[:16] == _ASF_HEADER:
        return "asf"
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n", b"#!AMR_MC1.0\n", b"#!AMR-WB_MC1.0\n")):
        return "amr"
    if head[:3] == b"FLV" and head[3:4] == b"\x01":
        return "flv"
    if four == b"\x00\x00\x01\xba":
        return "mpeg"
    if four == b"MAC ":
        return "ape"
    if four == b"wvpk":
        return "wv"
    return None


def _weak_format(head: bytes) -> str | None:
    """Short or repeated sync patterns, trusted only once non-audio content is ruled out."""
    if _mpegts_at(head, 0, 188) or _mpegts_at(head, 4, 192):
        return "mpegts"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free") and int.from_bytes(head[:4]) >= 8:
        return "mp4"  # QuickTime without an ftyp box: a plausible first atom
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS: 12-bit sync, layer bits 00
    return _mpeg_at(head)


def _mpegts_at(head: bytes, offset: int, packet: int) -> bool:
    """0x47 sync bytes at ``offset`` of every packet in the head (at least two packets)."""
    count = (len(head) - offset - 1) // packet + 1 if len(head) > offset else 0
    return count >= 2 and all(head[offset + i * packet] == 0x47 for i in range(min(count, 8)))


def id3_size(head: bytes) -> int | None:
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


# ---------------------------------------------------------------------------------------------
# Things that are not audio

_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"jxl ")

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

# Playlists and manifests name other files (or URLs) for a player to open: never audio in
# themselves. Links to them go through the link fetcher, which downloads what they list.
_PLAYLIST_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"#EXTM3U", "an HLS/M3U playlist"),
    (b"[playlist]", "a PLS playlist"),
    (b"ffconcat", "an ffmpeg concat script"),
    (b"#EXT-X-", "an HLS playlist"),
)


def describe_non_audio(head: bytes) -> str | None:
    """A short name for well-known non-audio content ("a PNG image"), else None."""
    for magic, what in _NON_AUDIO_MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIC/AVIF image"
    text_start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, what in _PLAYLIST_PREFIXES:
        if text_start[: len(magic)].upper() == magic.upper():
            return what
    lower = text_start[:1024].lower()
    if lower.startswith(b"<?xml") or lower.startswith(b"<mpd"):
        if b"<mpd" in lower:
            return "a DASH manifest (a playlist)"
        if b"<playlist" in lower:
            return "an XSPF playlist"
    return _describe_text(head)


def _describe_text(head: bytes) -> str | None:
    """Name UTF-8 text content ("a text file", "a web page (HTML)", ...), else None."""
    if not head or b"\x00" in head:
        return None
    text = _utf8_prefix(head)
    if text is None:
        return None
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
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


def _utf8_prefix(head: bytes) -> str | None:
    """``head`` as UTF-8 text, or None when it is not: a character cut off by the end of the
    head is dropped, and at most 1 % of the characters may be invalid (a stray Latin-1 accent);
    a lone 0xFF byte is not text."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and e.start >= len(head) - 3:
            head = head[: e.start]
    text = head.decode("utf-8", errors="replace")
    return text if text.count("\ufffd") <= 0.01 * len(text) else None
