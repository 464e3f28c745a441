"""The real ``earworm`` entry point as a subprocess: analyze, eval, index/like/recommend/party, demo."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.audio_helpers import FIXTURES
from tests.bot.subprocesses import earworm


def test_analyze_prints_a_readable_breakdown(tmp_path: Path) -> None:
    chart = tmp_path / "genres.png"
    out = earworm("analyze", str(FIXTURES / "vibe_ace.ogg"), "--chart", str(chart))
    assert out.returncode == 0, out.stderr
    assert "jazz" in out.stdout and "Tempo" in out.stdout and "Key" in out.stdout
    assert re.search(r"Key +[A-G][b#]? (major|minor) · relative of [A-G][b#]? (major|minor) · \d+[AB] \(confidence", out.stdout)
    assert "Mood" in out.stdout and "calm" in out.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_json_is_the_full_analysis() -> None:
    out = earworm("analyze", str(FIXTURES / "hungarian_dance_5.ogg"), "--json")
    data = json.loads(out.stdout)
    assert data["schema_version"] == 3 and data["model_version"].startswith("earworm2-")
    d = data["descriptors"]  # the orchestral Hungarian Dance No. 5 is in G minor
    assert (d["key"], d["mode"], d["key_name"], d["relative_key"], d["camelot"]) == ("G", "minor", "G minor", "Bb major", "6A")
    assert 0.0 < d["key_confidence"] <= 1.0 and "tempo_alternative_bpm" in d
    assert next(iter(data["genres"])) == "classical" and len(data["embedding"]) == 76
    assert set(data["mood"]) == {"happy/energetic", "tense/angry", "sad", "calm"}
    assert len(data["timeline"]) == data["coverage"]["segments"] == 15


def test_analyze_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    out = earworm("analyze", str(fake))
    assert out.returncode == 2 and "PNG" in out.stderr and "Traceback" not in out.stderr
    missing = earworm("analyze", str(tmp_path / "nope.ogg"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_analyze_speech_says_not_music() -> None:
    out = earworm("analyze", str(FIXTURES / "not_music_speech.ogg"))
    assert out.returncode == 0 and "doesn't sound like music" in out.stdout and "speech" in out.stdout


def test_eval_reports_accuracy_and_precision(tmp_path: Path) -> None:
    rows = [("vibe_ace.ogg", "Jazz", "a"), ("solo_trumpet.ogg", "jazz", "a"), ("hungarian_dance_5.ogg", "classical", "a"), ("sugar_plum_fairy.ogg", "Classical", "b")]
    for f, *_ in rows:
        shutil.copy(FIXTURES / f, tmp_path / f)
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "label_set", "note"])
        writer.writerows([(f, label, s, "x") for f, label, s in rows])
    out = earworm("eval", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), "--json", "--workers", "2")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    # Among the labels present (jazz, classical) all four are right; over the whole vocabulary
    # vibe_ace's electronic side leads.
    assert report["n"] == 4 and report["accuracy"] == 1.0 and report["accuracy_open"] == 0.75
    assert report["per_label"]["classical"] == {"n": 2, "accuracy": 1.0}
    assert report["confusion"]["jazz"] == {"jazz": 2}
    assert set(report["precision_at_k"]) == {"p@1", "p@5", "p@10", "queries"} and report["precision_at_k"]["p@1"] >= 0.75
    assert report["precision_at_k"]["queries"] == 4
    assert report["timing"]["files"] == 4 and {"musicnn", "audioset"} <= set(report["timing"]["median_ms"])
    only_a = json.loads(earworm("eval", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), "--json", "--where", "label_set=a").stdout)
    assert only_a["n"] == 3


def test_eval_needs_file_and_label_columns(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("path,genre\nx.ogg,jazz\n")
    out = earworm("eval", str(tmp_path), "--labels", str(tmp_path / "labels.csv"))
    assert out.returncode == 2 and "file,label" in out.stderr


def test_catalog_commands_end_to_end(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    music = tmp_path / "music"
    music.mkdir()
    for f in ("vibe_ace.ogg", "solo_trumpet.ogg", "hungarian_dance_5.ogg", "sugar_plum_fairy.ogg", "not_music_speech.ogg"):
        shutil.copy(FIXTURES / f, music / f)
    (music / "cover.mp3").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))

    out = earworm("index", str(music), "--guild", "1", "--db", db)
    assert "4 added" in out.stdout and "1 not music" in out.stdout and "1 failed" in out.stdout
    assert out.returncode == 1  # one file failed; the rest is indexed

    out = earworm("like", str(music / "hungarian_dance_5.ogg"), "--user", "42", "--guild", "1", "--db", db)
    assert out.returncode == 0 and "liked" in out.stdout
    out = earworm("recommend", "--user", "42", "--guild", "1", "-n", "1", "--db", db)
    assert out.returncode == 0 and "sugar_plum_fairy" in out.stdout and "classical" in out.stdout

    earworm("like", str(music / "vibe_ace.ogg"), "--user", "43", "--guild", "1", "--db", db)
    out = earworm("party", "--users", "42,43,44", "--guild", "1", "-n", "3", "--db", db)
    assert out.returncode == 0 and "user 44: no likes yet" in out.stdout and "for user 42" in out.stdout

    out = earworm("forget", "--user", "42", "--db", db)
    assert out.returncode == 0 and "1 likes" in out.stdout
    cold = earworm("recommend", "--user", "42", "--guild", "1", "--db", db)
    assert "like" in cold.stdout.lower() and cold.returncode == 0

    # unlike finds the track by the file's content (nothing analyzed), and says what it did.
    unlike = ("unlike", str(music / "vibe_ace.ogg"), "--user", "43", "--guild", "1", "--db", db)
    assert earworm(*unlike).stdout == "vibe_ace: like removed\n"
    assert earworm(*unlike).stdout == "vibe_ace: was not liked\n"
    other = earworm("unlike", str(FIXTURES / "lets_go_fishin.ogg"), "--user", "43", "--guild", "1", "--db", db)
    assert other.returncode == 0 and "not in the catalog of guild 1" in other.stdout


@pytest.mark.slow
def test_demo_runs_offline(tmp_path: Path) -> None:
    out = earworm("demo", "--db", str(tmp_path / "demo.db"))
    assert out.returncode == 0, out.stderr
    for section in ("Indexing the bundled clips", "One analysis", "A playlist for Ada", "A listening party"):
        assert section in out.stdout
    assert (tmp_path / "demo-vibe_ace-genres.png").is_file()
