"""inference.recommend: explanations (accurate, worded, keys only when sure) and key relations."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from inference.recommend import TrackFeatures, explain, key_relation, recommend
from tests.inference.recommend.world import ALT, DIM, GENRES, World, best_sim, unit

BPM = re.compile(r"(\d+) vs (\d+) BPM")


def test_explanations_are_accurate(world: World) -> None:
    cat = world.catalog
    profiles = [
        world.by_genre["jazz"][:5] + world.by_genre["metal"][:5],
        world.by_genre["classical"][:10],
        world.by_genre["hiphop"][3:9] + world.by_genre["country"][:2],
    ]
    checked_genre = checked_tempo = 0
    for likes in profiles:
        for p in recommend(likes, cat, 20).picks:
            track, liked = cat[p.track_id], cat[p.closest_liked_id]
            assert p.closest_liked_id in likes
            sim = float(track.embedding @ liked.embedding)
            assert sim == pytest.approx(best_sim(cat, p.track_id, likes), abs=1e-5)
            assert p.reason.startswith(f"close to '{liked.title}' you liked ({sim:.2f})")
            shared = track.top_genre == liked.top_genre
            assert (f"both {track.top_genre}" in p.reason) == shared
            assert sum(f"both {g}" in p.reason for g in [*GENRES, *ALT.values()]) == int(shared)
            checked_genre += shared
            m = BPM.search(p.reason)
            close = abs(track.tempo_bpm - liked.tempo_bpm) <= 0.06 * max(
                track.tempo_bpm, liked.tempo_bpm
            )
            double = abs(track.tempo_bpm - 2 * liked.tempo_bpm) <= 0.06 * track.tempo_bpm
            half = abs(2 * track.tempo_bpm - liked.tempo_bpm) <= 0.06 * liked.tempo_bpm
            if m:
                assert (int(m[1]), int(m[2])) == (round(track.tempo_bpm), round(liked.tempo_bpm))
                assert close or double or half
                checked_tempo += 1
            elif "BPM" in p.reason:
                assert close and round(track.tempo_bpm) == round(liked.tempo_bpm)
            else:
                assert not (close or double or half)
            rel = key_relation(track.key, track.mode, liked.key, liked.mode)
            assert (rel is not None) == any(
                w in p.reason for w in ("same key", "relative keys", "a fifth apart")
            )
            if rel:
                assert p.reason.endswith(rel)
    assert checked_genre > 10 and checked_tempo > 0


def test_explain_wording() -> None:
    emb = np.ones(4, dtype=np.float32) / 2
    liked = TrackFeatures(1, emb, {"jazz": 0.8, "blues": 0.2}, 90.0, "F", "major", "Vibe Ace", "a")
    pick = TrackFeatures(2, emb, {"jazz": 0.7, "soul": 0.3}, 92.0, "F", "major", "Other", "b")
    assert (
        explain(pick, liked, 0.91)
        == "close to 'Vibe Ace' you liked (0.91) · both jazz · 92 vs 90 BPM · same key F major"
    )
    far = replace(pick, genres={"metal": 1.0}, tempo_bpm=140.0, key="B", mode="major")
    assert explain(far, liked, 0.5) == "close to 'Vibe Ace' you liked (0.50)"
    double = replace(pick, tempo_bpm=181.0, key="D", mode="minor")
    assert (
        explain(double, liked, 0.8)
        == "close to 'Vibe Ace' you liked (0.80) · both jazz · 181 vs 90 BPM (double time) · relative keys D minor / F major"
    )
    untitled = replace(liked, title="  ", tempo_bpm=None, key=None)
    assert explain(pick, untitled, 0.7) == "close to 'track #1' you liked (0.70) · both jazz"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (("F", "major"), ("F", "major"), "same key F major"),
        (("Bb", "minor"), ("A#", "minor"), "same key Bb minor"),
        (("D", "minor"), ("F", "major"), "relative keys D minor / F major"),
        (("C", "major"), ("A", "minor"), "relative keys C major / A minor"),
        (("C", "major"), ("G", "major"), "keys a fifth apart (C major / G major)"),
        (("E", "minor"), ("A", "minor"), "keys a fifth apart (E minor / A minor)"),
        (("C", "major"), ("D", "major"), None),
        (("C", "major"), ("C", "minor"), None),
        (("C", "major"), ("E", "minor"), None),
        (("C", None), ("C", "major"), None),
        ((None, "major"), ("C", "major"), None),
        (("H", "major"), ("C", "major"), None),
    ],
)
def test_key_relation(a, b, expected) -> None:
    assert key_relation(*a, *b) == expected


def test_explain_a_members_own_like() -> None:
    from inference.recommend import TrackFeatures, explain

    t = TrackFeatures(1, np.ones(4, np.float32) / 2, {"jazz": 0.9}, 120.0, "C", "major", "Own", "s")
    assert explain(t, t, 1.0, who="they") == "one of their likes · jazz"


def test_explanations_leave_out_unsure_keys() -> None:
    emb = unit(np.ones(DIM))
    liked = TrackFeatures(1, emb, {"jazz": 1.0}, 90.0, "F", "major", "Vibe Ace", "a", key_confidence=0.8)
    pick = TrackFeatures(2, emb, {"jazz": 1.0}, 90.0, "F", "major", "Other", "b", key_confidence=0.8)
    assert explain(pick, liked, 0.9).endswith("same key F major")
    assert "key" not in explain(replace(pick, key_confidence=0.1), liked, 0.9)
