"""inference.audio: sniffing, probing and decoding real recordings in every format we accept."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from inference import audio
from inference.audio import AudioInfo, AudioLimits, decode, probe, sniff_format
from inference.errors import (
    AudioError,
    AudioTooLong,
    AudioTooShort,
    CorruptAudio,
    EmptyInput,
    InputTooLarge,
    MissingDecoder,
    UnsupportedFormat,
)

SR = 16000
EXCERPT_S = 6.0
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _peak_hz(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest FFT bin, refined by a parabola through its neighbours."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / x.size


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Fixtures: one real excerpt, written in every format


@pytest.fixture(scope="module")
def excerpt(fixtures_dir: Path) -> tuple[np.ndarray, int]:
    """6 s of a real jazz recording (vibe_ace.ogg, 22.05 kHz mono), float32."""
    x, sr = sf.read(fixtures_dir / "vibe_ace.ogg", dtype="float32")
    return x[10 * sr : 10 * sr + int(EXCERPT_S * sr)], sr


@pytest.fixture(scope="module")
def reference(excerpt: tuple[np.ndarray, int]) -> np.ndarray:
    x, sr = excerpt
    return soxr.resample(x, sr, SR, quality="HQ")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, excerpt, convert) -> dict[str, Path]:
    """The excerpt as wav, flac, mp3 (libsndfile) and ogg, opus, m4a, aac, webm (ffmpeg)."""
    x, sr = excerpt
    d = tmp_path_factory.mktemp("formats")
    out = {}
    for name, fmt in (("wav", "WAV"), ("flac", "FLAC"), ("mp3", "MP3")):
        out[name] = d / f"excerpt.{name}"
        sf.write(out[name], x, sr, format=fmt)
    out["ogg"] = convert(out["wav"], d / "excerpt.ogg", "-c:a", "libvorbis")
    out["opus"] = convert(out["wav"], d / "excerpt.opus", "-c:a", "libopus")
    out["m4a"] = convert(out["wav"], d / "excerpt.m4a", "-c:a", "aac")
    out["aac"] = convert(out["wav"], d / "excerpt.aac", "-c:a", "aac", "-f", "adts")
    out["webm"] = convert(out["wav"], d / "excerpt.webm", "-c:a", "libopus")
    return out


ALL_FORMATS = ["wav", "flac", "mp3", "ogg", "opus", "m4a", "aac", "webm"]


# ---------------------------------------------------------------------------------------------
# sniff_format


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_sniff_recognises_every_format(files: dict[str, Path], name: str) -> None:
    assert sniff_format(files[name].read_bytes()[:4096]) == name


@pytest.mark.parametrize(
    "head",
    [
        PNG_HEAD,
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"PK\x03\x04\x14\x00\x06\x00" + bytes(64),
        b"just some text, not a song\n" * 20,
        b"<!DOCTYPE html><html><head><title>x</title></head></html>",
        b"RIFF\x00\x10\x00\x00WEBPVP8 " + bytes(64),
        b"",
    ],
)
def test_sniff_rejects_non_audio(head: bytes) -> None:
    assert sniff_format(head) is None


def test_sniff_looks_behind_an_id3_tag(files: dict[str, Path]) -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x14" + bytes(20)  # 20-byte body (syncsafe size)
    assert sniff_format(tag + files["flac"].read_bytes()[:4000]) == "flac"
    assert sniff_format(tag + files["mp3"].read_bytes()[:4000]) == "mp3"
    assert sniff_format(b"ID3\x03\x00\x00\x00\x01\x00\x00") == "mp3"  # tag longer than the head


def test_sniff_finds_mp3_frames_after_junk(files: dict[str, Path]) -> None:
    data = files["mp3"].read_bytes()
    first = data.find(b"\xff\xfb") if data[:3] != b"ID3" else None
    frames = data[first:] if first else data
    assert sniff_format(bytes(100) + frames[:4000]) == "mp3"  # zero padding in front
    assert sniff_format(b"junk!" * 20 + frames[:4000]) == "mp3"  # two chained frames found


# ---------------------------------------------------------------------------------------------
# decode: every format, from a path and from bytes


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_decode_every_format(files: dict[str, Path], reference: np.ndarray, name: str) -> None:
    samples, info = decode(files[name])
    assert isinstance(info, AudioInfo) and info.format == name
    assert samples.dtype == np.float32 and samples.ndim == 1 and samples.flags.c_contiguous
    assert np.isfinite(samples).all()
    # Codecs pad a few ms (ADTS AAC keeps its ~46 ms priming); the length is the excerpt's.
    assert abs(samples.size / SR - EXCERPT_S) < 0.1
    assert info.duration_s == pytest.approx(samples.size / SR)
    # The same music at the same level, whatever the route (libsndfile or ffmpeg).
    assert 20 * np.log10(_rms(samples) / _rms(reference)) == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("name", ["wav", "mp3", "ogg", "m4a", "webm"])
def test_decode_bytes_matches_path(files: dict[str, Path], name: str) -> None:
    from_path, _ = decode(files[name])
    from_bytes, info = decode(files[name].read_bytes())
    assert info.format == name
    np.testing.assert_array_equal(from_path, from_bytes)


def test_decode_is_sample_exact_for_lossless(files: dict[str, Path], reference: np.ndarray) -> None:
    for name in ("wav", "flac"):
        samples, _ = decode(files[name])
        n = min(samples.size, reference.size)
        # 16-bit quantisation, then the same soxr resampler (streamed in blocks here).
        assert np.max(np.abs(samples[:n] - reference[:n])) < 1e-3


def test_decode_real_fixture_with_cover_art(fixtures_dir: Path) -> None:
    samples, info = decode(fixtures_dir / "solo_trumpet.ogg")
    assert (info.format, info.sample_rate, info.channels) == ("ogg", 22050, 1)
    assert samples.size / SR == pytest.approx(5.3, abs=0.1)


def test_wrong_extension_still_decodes(files: dict[str, Path], tmp_path: Path) -> None:
    disguised = tmp_path / "song.wav"
    disguised.write_bytes(files["mp3"].read_bytes())
    samples, info = decode(disguised)
    assert info.format == "mp3" and abs(samples.size / SR - EXCERPT_S) < 0.1
    m4a_as_mp3 = tmp_path / "song.mp3"
    m4a_as_mp3.write_bytes(files["m4a"].read_bytes())
    assert decode(m4a_as_mp3)[1].format == "m4a"


# ---------------------------------------------------------------------------------------------
# Channels, resampling, bad samples


def _stereo_sine(left_amp: float, right_amp: float, sr: int = 44100) -> np.ndarray:
    s = _sine(440.0, 3.0, sr, amp=1.0)
    return np.stack([left_amp * s, right_amp * s], axis=1)


@pytest.mark.parametrize("suffix, args", [("wav", None), ("m4a", ("-c:a", "aac", "-b:a", "192k"))])
def test_stereo_441_is_averaged_and_keeps_pitch(tmp_path: Path, convert, suffix, args) -> None:
    wav = tmp_path / "stereo.wav"
    sf.write(wav, _stereo_sine(0.5, 0.0), 44100, subtype="FLOAT")
    path = wav if args is None else convert(wav, tmp_path / f"stereo.{suffix}", *args)
    samples, info = decode(path)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert samples.size / SR == pytest.approx(3.0, abs=0.06)
    mid = samples[SR // 2 : -SR // 2]
    # Mean of the channels: amplitude 0.25 (ffmpeg's own downmix would give 0.35).
    assert _rms(mid) == pytest.approx(0.25 / np.sqrt(2), rel=0.03)
    assert _peak_hz(mid) == pytest.approx(440.0, abs=0.5)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
def test_resampled_sine_stays_at_440(tmp_path: Path, sr: int) -> None:
    path = tmp_path / "sine.flac"
    sf.write(path, _sine(440.0, 2.0, sr), sr)
    samples, info = decode(path)
    assert info.sample_rate == sr and samples.size == pytest.approx(2 * SR, abs=2)
    assert _peak_hz(samples) == pytest.approx(440.0, abs=0.5)


def test_nan_and_inf_samples_become_zero(tmp_path: Path) -> None:
    x = _sine(440.0, 2.0, 22050)
    x[1000:1100] = np.nan
    x[5000] = np.inf
    x[6000] = -np.inf
    path = tmp_path / "bad.wav"
    sf.write(path, x, 22050, subtype="FLOAT")
    samples, _ = decode(path)
    assert np.isfinite(samples).all() and np.max(np.abs(samples)) < 1.0


# ---------------------------------------------------------------------------------------------
# Refusals


def test_png_renamed_mp3_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "cover.mp3"
    path.write_bytes(PNG_HEAD + bytes(1000))
    for fn in (probe, decode):
        with pytest.raises(UnsupportedFormat, match="PNG image, not audio"):
            fn(path)


def test_html_and_text_are_named() -> None:
    with pytest.raises(UnsupportedFormat, match="web page"):
        decode(b"<!doctype html><html><body>404 not found</body></html>")
    with pytest.raises(UnsupportedFormat, match="text file"):
        decode(b"hello, this is not a song")


def test_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    for source in (path, b""):
        with pytest.raises(EmptyInput):
            decode(source)


def test_zero_length_wav(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 44100)
    assert probe(path).duration_s == 0.0
    with pytest.raises(EmptyInput):
        decode(path)


def test_too_short() -> None:
    buf = io.BytesIO()
    sf.write(buf, _sine(440.0, 0.2, 22050), 22050, format="WAV")
    with pytest.raises(AudioTooShort, match=r"too short: 0\.2 s, need at least 1 s"):
        decode(buf.getvalue())


def test_random_bytes_are_refused() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        data = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
        with pytest.raises((UnsupportedFormat, CorruptAudio)):
            decode(data)


@pytest.mark.parametrize("name", ["mp3", "flac", "ogg", "wav", "m4a", "webm", "opus"])
def test_truncated_file_decodes_first_part_or_is_corrupt(files: dict[str, Path], name: str) -> None:
    data = files[name].read_bytes()
    try:
        samples, _ = decode(data[: len(data) // 2])
    except (CorruptAudio, AudioTooShort, EmptyInput):
        return  # e.g. an M4A whose index sits at the end: nothing is decodable
    assert np.isfinite(samples).all()
    assert 0.3 * EXCERPT_S < samples.size / SR < 0.7 * EXCERPT_S


@pytest.mark.parametrize("name", ["mp3", "flac", "ogg", "m4a"])
def test_garbage_after_a_valid_header_never_crashes(files: dict[str, Path], name: str) -> None:
    data = bytearray(files[name].read_bytes())
    rng = np.random.default_rng(1)
    data[200:] = rng.integers(0, 256, len(data) - 200, dtype=np.uint8).tobytes()
    try:
        samples, _ = decode(bytes(data))
    except AudioError:
        return
    assert np.isfinite(samples).all()


def test_too_large_bytes_and_path(files: dict[str, Path]) -> None:
    limits = AudioLimits(max_bytes=10_000)
    for source in (files["wav"], files["wav"].read_bytes()):
        with pytest.raises(InputTooLarge, match="limit is"):
            probe(source, limits)


def test_long_file_refused_by_header_without_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.flac"  # 25 min of 8 kHz silence: ~36 kB
    sf.write(path, np.zeros(25 * 60 * 8000, dtype=np.int16), 8000)
    assert path.stat().st_size < 100_000

    def must_not_decode(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded a file whose header is already over the limit")

    monkeypatch.setattr(audio, "_decode_soundfile", must_not_decode)
    monkeypatch.setattr(audio, "_decode_ffmpeg", must_not_decode)
    for fn in (probe, decode):
        with pytest.raises(AudioTooLong, match="25 min of audio; the limit is 20 min"):
            fn(path)


def test_tiny_file_declaring_hours_is_refused() -> None:
    buf = io.BytesIO()
    sf.write(buf, _sine(440.0, 1.0, 16000), 16000, format="FLAC")
    data = bytearray(buf.getvalue())
    # STREAMINFO follows "fLaC" and a 4-byte block header; total samples: 36 bits at 13..17.
    total = 16000 * 3900
    data[8 + 13] = (data[8 + 13] & 0xF0) | (total >> 32)
    data[8 + 14 : 8 + 18] = struct.pack(">I", total & 0xFFFFFFFF)
    with pytest.raises(AudioTooLong, match="1 h 5 min"):
        probe(bytes(data))


def test_header_that_says_short_is_stopped_during_decode(tmp_path, monkeypatch) -> None:
    path = tmp_path / "thirty.wav"
    sf.write(path, np.zeros(30 * 8000, dtype=np.float32), 8000)
    real = audio._soundfile_info

    def lying(inp, fmt):
        info = real(inp, fmt)
        return AudioInfo(info.format, 2.0, info.sample_rate, info.channels)

    monkeypatch.setattr(audio, "_soundfile_info", lying)
    limits = AudioLimits(max_duration_s=10.0)
    assert probe(path, limits).duration_s == 2.0
    with pytest.raises(AudioTooLong, match="decodes to more than 10 s"):
        decode(path, limits)


def test_webm_without_duration_is_stopped_during_decode(tmp_path: Path, files, convert) -> None:
    # Written to a pipe, WebM has no duration in its header.
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(files["wav"]),
         "-c:a", "libopus", "-f", "webm", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    assert np.isnan(probe(proc.stdout).duration_s)
    with pytest.raises(AudioTooLong):
        decode(proc.stdout, AudioLimits(max_duration_s=0.5, min_duration_s=0.1))
    assert decode(proc.stdout)[0].size / SR == pytest.approx(EXCERPT_S, abs=0.1)


def test_chained_ogg_decodes_every_part(tmp_path: Path, files: dict[str, Path], convert) -> None:
    # Two logical streams back to back (internet radio rips): libsndfile reads only the first
    # and cannot tell the length, so the decode goes to ffmpeg.
    second = convert(files["wav"], tmp_path / "second.ogg", "-t", "3", "-c:a", "libvorbis")
    samples, info = decode(files["ogg"].read_bytes() + second.read_bytes())
    assert info.format == "ogg" and samples.size / SR == pytest.approx(EXCERPT_S + 3, abs=0.2)


def test_missing_ffmpeg(files: dict[str, Path], monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find there
    for name in ("m4a", "opus", "webm"):
        for fn in (probe, decode):
            with pytest.raises(MissingDecoder, match="needs ffmpeg.*apt-get install ffmpeg"):
                fn(files[name])
    # libsndfile formats need no ffmpeg.
    assert decode(files["mp3"])[1].format == "mp3"


def test_ffmpeg_timeout_is_reported(files: dict[str, Path]) -> None:
    with pytest.raises(CorruptAudio, match="took over"):
        decode(files["m4a"], AudioLimits(decode_timeout_s=0.001))


def test_human_readable_durations() -> None:
    assert audio._fmt_duration(0.24) == "0.2 s"
    assert audio._fmt_duration(42) == "42 s"
    assert audio._fmt_duration(245) == "4 min 5 s"
    assert audio._fmt_duration(1200) == "20 min"
    assert audio._fmt_duration(3900) == "1 h 5 min"
