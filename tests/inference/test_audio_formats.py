"""inference.audio on every container people share besides the everyday ones (test_audio.py):
Sun/NeXT AU, CAF, WMA, Wave64, AMR, MPEG-TS, AVI and other videos, made here with ffmpeg from a
real recording; and a video without sound, refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.audio import decode, probe
from inference.errors import UnsupportedFormat
from tests.audio_helpers import ffmpeg

SR = 16000
EXCERPT_S = 4.0
VIDEO = ["-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={EXCERPT_S}"]


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _amr(seconds: float) -> bytes:
    """An AMR-NB file (no encoder ships with Debian's ffmpeg): 12.2 kbit/s frames, 20 ms each,
    with random parameters, which the decoder turns into noise-like sound."""
    rng = np.random.default_rng(0)
    frames = int(seconds * 50)
    return b"#!AMR\n" + b"".join(
        b"\x3c" + rng.integers(0, 256, 31, dtype=np.uint8).tobytes() for _ in range(frames)
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path, convert) -> Path:
    """4 s of a real jazz recording, stereo 44.1 kHz 16-bit WAV."""
    x, sr = sf.read(fixtures_dir / "vibe_ace.ogg", dtype="float32")
    x = x[10 * sr : 10 * sr + int(EXCERPT_S * sr)]
    path = tmp_path_factory.mktemp("src") / "excerpt.wav"
    sf.write(path, np.stack([x, 0.5 * x], axis=1), sr)
    return convert(path, path.with_name("excerpt44.wav"), "-ar", "44100")


# name -> (ffmpeg output options, file name, expected format, lossless)
MADE = {
    "au": (["-c:a", "pcm_s16be"], "x.au", "au", True),
    "caf_pcm": (["-c:a", "pcm_s16le"], "x.caf", "caf", True),
    "caf_alac": (["-c:a", "alac"], "x.caf", "caf", True),  # libsndfile cannot: ffmpeg reads it
    "wma": (["-c:a", "wmav2"], "x.wma", "asf", False),
    "w64": (["-c:a", "pcm_s16le"], "x.w64", "w64", True),
    "mpegts": (["-c:a", "aac"], "x.ts", "mpegts", False),
    "mpeg_ps": (["-c:a", "mp2", "-f", "vob"], "x.mpg", "mpeg", False),
    "flv": (["-c:a", "libmp3lame", "-ar", "44100"], "x.flv", "flv", False),
    "wavpack": (["-c:a", "wavpack"], "x.wv", "wv", True),
}
VIDEOS = {
    "avi": (["-c:v", "mjpeg", "-c:a", "pcm_s16le"], "x.avi", "avi", True),
    "mp4_video": (["-c:v", "mpeg4", "-c:a", "aac"], "x.mp4", "mp4", False),
    "mkv_video": (["-c:v", "mpeg4", "-c:a", "flac"], "x.mkv", "mkv", True),
    "wmv": (["-c:v", "wmv2", "-c:a", "wmav2"], "x.wmv", "asf", False),
    "ts_video": (["-c:v", "mpeg2video", "-c:a", "mp2"], "x.ts", "mpegts", False),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, source: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("made")
    out: dict[str, Path] = {}
    for name, (args, filename, _, _) in MADE.items():
        out[name] = d / f"{name}-{filename}"
        ffmpeg("-i", str(source), *args, str(out[name]))
    for name, (args, filename, _, _) in VIDEOS.items():
        out[name] = d / f"{name}-{filename}"
        ffmpeg(*VIDEO, "-i", str(source), "-map", "0:v", "-map", "1:a", "-shortest", *args,
               str(out[name]))  # fmt: skip
    out["amr"] = d / "x.amr"
    out["amr"].write_bytes(_amr(EXCERPT_S))
    return out


@pytest.fixture(scope="module")
def reference(source: Path) -> np.ndarray:
    return decode(source)[0]


@pytest.mark.parametrize("name", [*MADE, *VIDEOS])
def test_decodes_the_audio_of_every_container(
    made: dict[str, Path], reference: np.ndarray, name: str
) -> None:
    _, filename, fmt, lossless = {**MADE, **VIDEOS}[name]
    for source in (made[name], made[name].read_bytes()):
        samples, info = decode(source)
        assert info.format == fmt
        assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
        assert samples.size / SR == pytest.approx(EXCERPT_S, abs=0.15)
        # The same music at the same level (codecs pad or trim a few ms at the ends).
        n = min(samples.size, reference.size)
        assert _rms_db(samples[:n]) == pytest.approx(_rms_db(reference[:n]), abs=1.0)
        if lossless:  # the same waveform (ffmpeg's resampler differs slightly from soxr)
            assert np.corrcoef(samples[:n], reference[:n])[0, 1] > 0.995


def test_amr_decodes(made: dict[str, Path]) -> None:
    samples, info = decode(made["amr"])
    assert (info.format, info.sample_rate) == ("amr", 8000)
    assert samples.size / SR == pytest.approx(EXCERPT_S, abs=0.05) and _rms_db(samples) > -40


@pytest.mark.parametrize(
    "args, filename, label",
    [
        (["-c:v", "mjpeg"], "silent.avi", "AVI video"),
        (["-c:v", "mpeg4"], "silent.mp4", "MP4 video"),
        (["-c:v", "mpeg4"], "silent.mkv", "Matroska video"),
        (["-c:v", "mpeg2video"], "silent.ts", "MPEG-TS video"),
    ],
)
def test_video_without_sound_is_refused_by_name(
    tmp_path: Path, args: list[str], filename: str, label: str
) -> None:
    path = tmp_path / filename
    ffmpeg(*VIDEO, *args, str(path))
    for fn in (probe, decode):
        with pytest.raises(UnsupportedFormat, match=f"^That {label} has no audio track"):
            fn(path)


def test_every_container_is_sniffed_from_its_content(made: dict[str, Path]) -> None:
    from inference.formats import AUDIO_EXTENSIONS, sniff_format

    for name, path in made.items():
        expected = {**MADE, **VIDEOS}.get(name, (None, None, "amr", None))[2]
        assert sniff_format(path.read_bytes()[:4096]) == expected, name
        assert path.suffix in AUDIO_EXTENSIONS, name


def test_the_three_places_agree_on_file_endings() -> None:
    # The Discord resolver, `earworm index` and the decoder share one list of endings.
    from bot.cli import index
    from bot.discord import requests
    from inference.formats import AUDIO_EXTENSIONS, CONTAINERS

    assert requests.AUDIO_EXTENSIONS is AUDIO_EXTENSIONS
    assert index.AUDIO_EXTENSIONS is AUDIO_EXTENSIONS
    for ending in (".au", ".caf", ".wma", ".w64", ".amr", ".ts", ".avi", ".mp4", ".mkv"):
        assert ending in AUDIO_EXTENSIONS
    assert all(c.demuxer for c in CONTAINERS.values())
