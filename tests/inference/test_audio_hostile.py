"""inference.audio against hostile and broken files: playlists disguised as MP3 that would make
ffmpeg read another file on this machine, float audio far beyond full scale, files of a byte or
a sample."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference import audio
from inference.audio import decode, probe
from inference.errors import AudioError, AudioTooShort, CorruptAudio, UnsupportedFormat

EMPTY_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an ID3v2.4 tag with an empty body


def _hls(target: Path) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n"
        f"file://{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def _dash(target: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT5S" minBufferTime="PT1S" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet '
        'mimeType="audio/mpeg"><Representation id="a" bandwidth="64000">'
        f"<BaseURL>file://{target}</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
    ).encode()


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path, convert) -> Path:
    """A file on the server's disk that no upload may make us read: 5 s of real music, as
    MP3 (an extension the HLS demuxer accepts for a segment)."""
    x, sr = sf.read(fixtures_dir / "vibe_ace.ogg", dtype="float32")
    wav = tmp_path_factory.mktemp("server") / "private.wav"
    sf.write(wav, x[: 5 * sr], sr)
    return convert(wav, wav.with_name("private.mp3"), "-c:a", "libmp3lame")


def _ffprobe_guessing(path: Path) -> dict:
    """What an unpinned ffprobe makes of a file (the behaviour the fix must never rely on)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration", "-of", "json",
         str(path)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return json.loads(out.stdout or b"{}").get("format") or {}


@pytest.mark.parametrize("tail", [b"", b"\x00" * 16], ids=["plain", "nul-padded"])
def test_playlist_disguised_as_mp3_never_reads_a_local_file(
    tmp_path: Path, secret: Path, tail: bytes
) -> None:
    evil = tmp_path / "song.mp3"
    evil.write_bytes(EMPTY_ID3 + _hls(secret) + tail)
    assert evil.stat().st_size < 600
    # The attack is real: left to guess, ffmpeg takes it for HLS and reads the secret.
    guessed = _ffprobe_guessing(evil)
    assert guessed.get("format_name") == "hls" and float(guessed["duration"]) > 4
    for source in (evil, evil.read_bytes()):
        for fn in (probe, decode):
            with pytest.raises(UnsupportedFormat, match="HLS/M3U playlist, not audio"):
                fn(source)


def test_dash_manifest_disguised_as_mp3_is_refused(tmp_path: Path, secret: Path) -> None:
    evil = tmp_path / "song.mp3"
    evil.write_bytes(EMPTY_ID3 + _dash(secret) + b"\x00" * 8)
    with pytest.raises(UnsupportedFormat, match="DASH manifest"):
        decode(evil)


@pytest.mark.parametrize("playlist", [_hls, _dash])
def test_ffmpeg_reads_only_the_sniffed_container(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch, playlist
) -> None:
    # Even if the sniffer were fooled into calling a playlist MP3, ffmpeg is pinned to the MP3
    # demuxer (and the file protocol for that one input): it finds no MP3 frames, and the
    # secret is never decoded.
    evil = tmp_path / "song.mp3"
    evil.write_bytes(EMPTY_ID3 + playlist(secret) + b"\x00" * 16)
    monkeypatch.setattr(audio, "sniff_format", lambda head: "mp3")
    monkeypatch.setattr(audio, "_soundfile_info", lambda inp, fmt: None)  # straight to ffmpeg
    for fn in (probe, decode):
        with pytest.raises(CorruptAudio, match="MP3"):
            fn(evil)


def test_every_ffmpeg_input_is_pinned(tmp_path: Path) -> None:
    inp = audio._Input(data=b"x", path=None, size=1, head=b"x", id3=False)
    try:
        args = inp.for_ffmpeg("m4a")
    finally:
        inp.close()
    assert args[:6] == ["-protocol_whitelist", "file", "-format_whitelist", "mov", "-f", "mov"]
    assert args[6] == "-i" and args[7].startswith("file:/")


# ---------------------------------------------------------------------------------------------
# Out-of-range float audio


@pytest.fixture(scope="module")
def jazz(fixtures_dir: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(fixtures_dir / "vibe_ace.ogg", dtype="float32")
    return x[10 * sr : 20 * sr], sr


@pytest.mark.parametrize("gain", [8.0, 1e17, 3e37])
def test_float_audio_beyond_full_scale_is_scaled_to_full_scale(
    tmp_path: Path, jazz: tuple[np.ndarray, int], gain: float
) -> None:
    x, sr = jazz
    path = tmp_path / "loud.wav"
    sf.write(path, (x.astype(np.float64) * gain).astype(np.float32), sr, subtype="FLOAT")
    samples, _ = decode(path)
    assert np.isfinite(samples).all()
    assert np.abs(samples).max() == pytest.approx(1.0, abs=1e-3)
    # The same waveform as the original, only louder: scaled back, not clipped.
    reference, _ = decode(_float_wav(x, sr))
    expected = reference / np.abs(reference).max()
    assert np.abs(samples - expected).max() < 1e-3


def test_float_audio_within_full_scale_is_untouched(jazz: tuple[np.ndarray, int]) -> None:
    x, sr = jazz
    quiet = decode(_float_wav(0.5 * x, sr))[0]
    assert np.abs(quiet - 0.5 * decode(_float_wav(x, sr))[0]).max() < 1e-6


def _float_wav(x: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Tiny files


def test_a_single_byte_is_too_small_not_text() -> None:
    for data in (b"\xff", b"\x00", b"\x80\x81"):
        with pytest.raises(UnsupportedFormat, match=r"only \d bytes?: too small to hold any audio"):
            decode(data)
    for text in (b"hello, this is not a song", b"I'm free, free falling"):  # "free": a box name
        with pytest.raises(UnsupportedFormat, match="text file"):
            decode(text)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 96000])
def test_a_one_sample_wav_is_too_short_not_empty(rate: int) -> None:
    buf = io.BytesIO()
    sf.write(buf, np.full(1, 0.5, dtype=np.float32), rate, format="WAV")
    with pytest.raises(AudioTooShort, match=r"too short: [\d.]+ ms, need at least 1 s"):
        decode(buf.getvalue())


def test_a_header_without_samples_contains_no_audio() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(0, dtype=np.float32), 44100, format="WAV")
    with pytest.raises(AudioError, match="WAV file contains no audio"):
        decode(buf.getvalue())
