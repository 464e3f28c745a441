"""inference.keys: key names, relative keys, Camelot codes, relations and the MIREX score."""

from __future__ import annotations

import pytest

from inference.keys import (
    Key,
    all_keys,
    fifths_distance,
    make_key,
    mirex_score,
    parse_key,
    parse_pitch_class,
    relation,
)

# The Camelot wheel as DJ software prints it: every major key (B) and minor key (A).
CAMELOT = {
    "B major": "1B", "F# major": "2B", "Db major": "3B", "Ab major": "4B", "Eb major": "5B",
    "Bb major": "6B", "F major": "7B", "C major": "8B", "G major": "9B", "D major": "10B",
    "A major": "11B", "E major": "12B",
    "G# minor": "1A", "Eb minor": "2A", "Bb minor": "3A", "F minor": "4A", "C minor": "5A",
    "G minor": "6A", "D minor": "7A", "A minor": "8A", "E minor": "9A", "B minor": "10A",
    "F# minor": "11A", "C# minor": "12A",
}  # fmt: skip


def test_camelot_codes_of_all_24_keys() -> None:
    assert {k.name: k.camelot for k in all_keys()} == CAMELOT


@pytest.mark.parametrize("key", all_keys(), ids=lambda k: k.name)
def test_relative_key_shares_the_camelot_number_and_round_trips(key: Key) -> None:
    rel = key.relative
    assert rel.minor != key.minor and rel.relative == key
    assert rel.camelot[:-1] == key.camelot[:-1]
    assert key.display() == f"{key.name} · relative of {rel.name} · {key.camelot}"
    assert parse_key(key.name) == key


def test_display_example_from_the_issue() -> None:
    assert make_key("A", "minor").display() == "A minor · relative of C major · 8A"


@pytest.mark.parametrize(
    ("text", "key"),
    [("F#", 6), ("Bb", 10), ("c♯", 1), ("E♭", 3), ("B#", 0), ("H", None), ("", None), (None, None)],
)
def test_parse_pitch_class(text, key) -> None:
    assert parse_pitch_class(text) == key


def test_parse_key_forms() -> None:
    assert parse_key("F#m") == Key(6, True)
    assert parse_key("C") == Key(0, False)
    assert parse_key("A# minor") == Key(10, True)
    assert parse_key("") is None and parse_key("X major") is None
    assert make_key("A", None) is None and make_key(None, "minor") is None


def test_relations_and_fifths_distance() -> None:
    c, g, a_min, c_min, d = (parse_key(t) for t in ("C major", "G major", "A minor", "C minor", "D major"))
    assert relation(c, c) == "same" and relation(c, a_min) == "relative"
    assert relation(c, g) == "fifth" and relation(g, c) == "fifth"
    assert relation(c, c_min) == "parallel" and relation(c, d) is None
    assert fifths_distance(c, a_min) == 0 and fifths_distance(c, g) == 1 and fifths_distance(c, d) == 2
    assert fifths_distance(c, parse_key("F# major")) == 6


def test_mirex_score() -> None:
    ref = parse_key("C major")
    scores = {t: mirex_score(ref, parse_key(t)) for t in ("C major", "G major", "F major", "A minor", "C minor", "D major")}
    # The fifth counts in one direction, as in MIREX and mir_eval: the estimate a fifth above.
    assert scores == {"C major": 1.0, "G major": 0.5, "F major": 0.0, "A minor": 0.3, "C minor": 0.2, "D major": 0.0}
    assert mirex_score(parse_key("A minor"), parse_key("C major")) == 0.3
    assert mirex_score(ref, None) == 0.0
