"""The container sniffer that the analyzer and the link fetcher share (inference.formats): the
fetcher checks every download with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.formats import sniff_format

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# -- sniffing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, ext",
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"fLaC\x00\x00\x00\x22", "flac"),
        (b"OggS\x00\x02", "ogg"),
        (b"ID3\x04\x00\x00\x00\x00\x01\x00", "mp3"),  # a tag longer than the head
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"FORM\x00\x00\x10\x00AIFF", "aiff"),
        (b".snd\x00\x00\x00\x18", "au"),
        (b"caff\x00\x01\x00\x00", "caf"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"), "asf"),
        (b"#!AMR\n\x3c", "amr"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"\x47\x40\x00\x10" + bytes(184) + b"\x47\x40", "mpegts"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n", None),  # a playlist behind a tag
        (b"\x89PNG\r\n\x1a\n\x00\x00", None),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"GIF89a\x01\x00", None),
        (b"%PDF-1.7\n", None),
        (b"<!DOCTYPE html><html>", None),
        (b"PK\x03\x04\x14\x00", None),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", None),
        (b"", None),
    ],
)
def test_sniff_container(head: bytes, ext: str | None) -> None:
    # The fetcher checks downloads with the analyzer's own sniffer and prober.
    assert sniff_format(head) == ext


def test_sniff_real_fixture() -> None:
    assert sniff_format((FIXTURES / "vibe_ace.ogg").read_bytes()[:512]) == "ogg"
