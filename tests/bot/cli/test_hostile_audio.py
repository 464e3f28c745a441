"""``earworm analyze`` and ``earworm index`` on float audio far beyond full scale: valid JSON,
the same music as the original, and a batch that indexes every file (the real entry point)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audio_helpers import FIXTURES
from tests.bot.subprocesses import earworm


def _reject_constant(name: str) -> None:
    raise ValueError(f"not valid JSON: {name}")


@pytest.fixture(scope="module")
def loud(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """20 s of a jazz recording as float WAV: as recorded, x8 and x1e17 (all finite)."""
    x, sr = sf.read(FIXTURES / "vibe_ace.ogg", dtype="float32")
    x = x[10 * sr : 30 * sr]
    d = tmp_path_factory.mktemp("loud")
    out = {}
    for name, gain in (("orig", 1.0), ("x8", 8.0), ("x1e17", 1e17)):
        out[name] = d / f"jazz_{name}.wav"
        sf.write(out[name], x * np.float32(gain), sr, subtype="FLOAT")
    return out


def test_analyze_json_stays_valid_and_keeps_the_genre(loud: dict[str, Path]) -> None:
    results = {}
    for name, path in loud.items():
        out = earworm("analyze", str(path), "--json")
        assert out.returncode == 0, out.stderr
        results[name] = json.loads(out.stdout, parse_constant=_reject_constant)
    top = next(iter(results["orig"]["genres"]))
    assert "jazz" in list(results["orig"]["genres"])[:3]  # the recording's genre is among the strongest
    for name in ("x8", "x1e17"):
        data = results[name]
        assert data["is_music"] is True and data["genres"], name
        assert next(iter(data["genres"])) == top, (name, data["genres"])
        assert np.isfinite(data["embedding"]).all()
    # The same music at three gains: the models hear every track at one loudness, so the same
    # numbers (to float rounding of the scaled samples).
    for name in ("x8", "x1e17"):
        assert results[name]["genres"].keys() == results["orig"]["genres"].keys(), name
        for genre, share in results["orig"]["genres"].items():
            assert abs(results[name]["genres"][genre] - share) < 1e-3, (name, genre)


def test_index_keeps_going_past_out_of_range_audio(tmp_path: Path, loud: dict[str, Path]) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(loud["x1e17"], folder)
    for name in ("solo_trumpet.ogg", "hungarian_dance_5.ogg"):
        shutil.copy(FIXTURES / name, folder)
    out = earworm(
        "index", str(folder), "--guild", "7", "--db", str(tmp_path / "t.db"), "--workers", "1"
    )
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stderr
    assert "3 added" in out.stdout and "0 failed" in out.stdout, out.stdout
