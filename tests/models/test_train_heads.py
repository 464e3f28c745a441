"""models/train_heads.py runs end to end on a tiny labelled set cut from the bundled recordings,
and the heads it writes load into a working Analyzer."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from inference.analysis import (
    EMBEDDING_HEAD_FILE,
    GENRE_HEAD_FILE,
    GENRE_NEIGHBOURS_FILE,
    MOOD_HEAD_FILE,
    MOOD_NEIGHBOURS_FILE,
    Analyzer,
    model_version,
)
from inference.heads import BLOCK_DIMS
from inference.models import MODELS_DIR
from models import train_heads
from tests.audio_helpers import load_fixture

# fixture -> (genre, quadrant): plausible labels, enough to exercise every code path.
SOURCES = {
    "vibe_ace.ogg": ("jazz", "Q4"),
    "solo_trumpet.ogg": ("jazz", "Q1"),
    "sugar_plum_fairy.ogg": ("classical", "Q4"),
    "hungarian_dance_5.ogg": ("classical", "Q2"),
    "lets_go_fishin.ogg": ("country", "Q1"),
}


def make_dataset(root) -> None:
    """Four 4-s clips per recording (one artist group each), plus weak and unlabelled rows."""
    rows = []
    for name, (genre, quadrant) in SOURCES.items():
        samples = load_fixture(name)
        for k in range(4):
            rel = f"audio/{name.split('.')[0]}_{k}.wav"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            start = (len(samples) - 16000 * 4) * k // 4
            sf.write(root / rel, samples[start : start + 16000 * 4], 16000)
            weak = k == 3
            rows.append({
                "file": rel, "genre": "" if weak else genre, "genres": f"{genre};folk" if weak else genre,
                "weak": "1" if weak else "0", "source": "fixture", "group": name,
                "quadrant": quadrant if k < 2 else "", "moods": "", "origin": name,
            })  # fmt: skip
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_train_heads_end_to_end(tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    make_dataset(data)
    out.mkdir()
    for f in MODELS_DIR.iterdir():  # the ONNX files and labels; the heads come from training
        if f.suffix in (".onnx", ".json", ".npy") and not f.name.startswith("heads_report"):
            shutil.copy(f, out / f.name)
    report_path = tmp_path / "report.json"
    code = train_heads.main(["--data", str(data), "--cache", str(tmp_path / "cache"), "--out", str(out), "--report", str(report_path), "--folds", "2", "--quick", "--seed", "3"])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["clips"] == 20 and report["seed"] == 3  # the folds' draw is recorded
    assert set(report["genre"]["classes"]) == {"jazz", "classical", "country", "folk"}
    assert 0 <= report["genre"]["candidates"]["final"]["accuracy"] <= 1
    blend = report["genre"]["candidates"][report["genre"]["chosen"]]  # the head blended with the neighbour vote
    assert report["genre"]["patch_head"] == "final" and 0 <= blend["nested_accuracy"] <= 1
    assert len(report["genre"]["neighbour_grid"]) == 15
    assert report["genre"]["temperature"] > 0
    kept = report["genre"]["vote_setting"]["kept"]  # the vote's size and weight are kept (train_heads.GENRE_VOTE)
    assert (kept["k"], kept["weight"]) == train_heads.GENRE_VOTE and 0 <= kept["top_off_head"] <= 1
    assert set(report["embedding"]["group_folds_single_label"]) == {"musicnn", "concat", "learned"}
    mood = report["mood"]["candidates"][report["mood"]["chosen"]]  # the mood head blended with its own vote
    assert report["mood"]["chosen"].startswith("final, blended with a vote of the")
    assert 0 <= mood["nested_accuracy"] <= 1 and mood["config"]["vote_k"] >= 1 and 0 <= report["mood"]["candidates"]["final"]["accuracy"] <= 1
    for name in (GENRE_HEAD_FILE, GENRE_NEIGHBOURS_FILE, MOOD_HEAD_FILE, MOOD_NEIGHBOURS_FILE, EMBEDDING_HEAD_FILE):
        assert (out / name).stat().st_size < 2_000_000

    analyzer = Analyzer.load(out, threads=1)
    assert len(analyzer.heads.genre.neighbours.refs) == 15  # the single-label clips
    assert len(analyzer.heads.mood.neighbours.refs) == 10  # the clips with a quadrant
    assert model_version(out) != model_version(MODELS_DIR)  # new heads, new version
    result = analyzer.analyze_samples(np.ascontiguousarray(load_fixture("sugar_plum_fairy.ogg")[: 16000 * 12]))
    assert result.is_music and result.top_genre in {"jazz", "classical", "country", "folk"}
    assert abs(sum(result.genres.values()) - 1) < 1e-3 and abs(sum(result.mood.values()) - 1) < 1e-3
    assert result.embedding.shape == (analyzer.heads.embedding.dim,)


@pytest.mark.parametrize("stale", ["before the taps", "under other models"])
def test_a_stale_cached_clip_is_extracted_again(tmp_path, stale: str) -> None:
    """A feature cache written by older models is not read as if it were current."""
    from models.extract_features import cache_name, features_version

    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.wav", load_fixture("vibe_ace.ogg")[: 16000 * 4], 16000)
    (tmp_path / "labels.csv").write_text("file,genre,genres,weak,source,group,quadrant,moods,origin\naudio/a.wav,jazz,jazz,0,fixture,a,Q4,,a\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / cache_name("audio/a.wav")
    if stale == "before the taps":
        np.savez(path, start_s=np.zeros(1))  # the old format: no taps, no version
    else:  # every field, but from other models: zero features, another version
        dims = {"musicnn": 200, "mean_pool": 753, "max_pool": 753, "msd": 50, "mtt": 50, "audioset": 527, "audioset_emb": 384, "audioset_taps": 320}
        fields = {k: np.zeros((1, d), np.float32) for k, d in dims.items()}
        np.savez(path, **fields, start_s=np.zeros(1), level_db=np.full(1, -20.0), duration_s=np.float64(4), features_version=np.str_("0" * 12))
    (clip,) = train_heads.load_clips(tmp_path, tmp_path / "labels.csv", cache, log=lambda _m: None)
    with np.load(path) as z:
        assert str(z["features_version"]) == features_version() and z["audioset_taps"].shape == (1, 320)
        assert np.abs(z["musicnn"]).max() > 0  # extracted from the audio this time
    assert clip.x.shape == (1, sum(BLOCK_DIMS[b] for b in train_heads.LOADED_BLOCKS))
