"""inference.result: the JSON form of Descriptors (schema 2) and reading version-1 records."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from inference.result import SCHEMA_VERSION, Analysis, Coverage, Descriptors


def _analysis(descriptors: Descriptors) -> Analysis:
    return Analysis(
        model_version="test",
        embedding=np.ones(4, np.float32) / 2,
        genres={"jazz": 1.0},
        timeline=[],
        tags={},
        descriptors=descriptors,
        coverage=Coverage(30.0, 30.0, 10, False),
    )


def test_descriptors_json_round_trip_with_the_new_fields() -> None:
    d = Descriptors(181.58, 0.495, "A", "minor", 0.62, -14.0, 900.0, 30.0, tempo_alternative_bpm=90.79)
    data = json.loads(json.dumps(_analysis(d).to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION == 3
    assert data["descriptors"] == {
        "tempo_bpm": 181.58, "tempo_confidence": 0.495, "key": "A", "mode": "minor",
        "key_confidence": 0.62, "loudness_db": -14.0, "brightness_hz": 900.0, "duration_s": 30.0,
        "tempo_alternative_bpm": 90.79, "key_name": "A minor", "relative_key": "C major", "camelot": "8A",
    }  # fmt: skip
    back = Analysis.from_dict(data)
    assert back.descriptors == d and back.to_dict() == data


def test_version_1_records_still_load_and_gain_the_key_names() -> None:
    v1 = {"tempo_bpm": 120.0, "tempo_confidence": 0.4, "key": "A#", "mode": "major", "key_confidence": 0.5,
          "loudness_db": -20.0, "brightness_hz": 1000.0, "duration_s": 3.0}  # fmt: skip
    d = Descriptors(**v1)
    assert (d.key_name, d.relative_key, d.camelot, d.tempo_alternative_bpm) == ("Bb major", "G minor", "6B", None)
    old = {**_analysis(d).to_dict(), "schema_version": 1, "descriptors": v1}
    assert Analysis.from_dict(old).descriptors == d


def test_derived_key_names_follow_key_and_mode_only() -> None:
    d = Descriptors(None, 0.0, None, None, 0.0, -90.0, 0.0, 1.0, key_name="bogus", camelot="99Z")
    assert (d.key_name, d.relative_key, d.camelot) == (None, None, None)
    assert Descriptors(**asdict(d)) == d
