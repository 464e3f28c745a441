"""The constructed world the recommendation tests run on: six genre clusters of unit vectors in
200-d (about 0.55 cosine within a cluster, about 0 across), 120 tracks each; every fifth track of
a cluster carries a neighbouring genre as its top genre, so explanations have to check the real
labels rather than the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.recommend import Catalog, TrackFeatures

GENRES = ["jazz", "metal", "classical", "hiphop", "country", "electronic"]
ALT = {
    "jazz": "blues",
    "metal": "rock",
    "classical": "ambient",
    "hiphop": "rnb",
    "country": "folk",
    "electronic": "house",
}
KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
DIM = 200
PER_GENRE = 120


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class World:
    tracks: list[TrackFeatures]
    catalog: Catalog
    genre_of: dict[int, str]  # cluster of each track id (not its label)
    by_genre: dict[str, list[int]]
    centres: np.ndarray


def make_world(seed: int = 1234, per_genre: int = PER_GENRE, n_sources: int = 80) -> World:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((len(GENRES), DIM)))
    tracks, genre_of, by_genre = [], {}, {g: [] for g in GENRES}
    tid = 1000
    for gi, g in enumerate(GENRES):
        for i in range(per_genre):
            v = unit(centres[gi] + 0.9 * rng.standard_normal(DIM) / np.sqrt(DIM)).astype(np.float32)
            label = g if i % 5 else ALT[g]
            tracks.append(
                TrackFeatures(
                    track_id=tid,
                    embedding=v,
                    genres={label: 0.6, "other": 0.4},
                    tempo_bpm=float(rng.uniform(70, 170)),
                    key=KEYS[int(rng.integers(12))],
                    mode="minor" if rng.integers(2) else "major",
                    title=f"{g} song {i}",
                    source=f"uploader{int(rng.integers(n_sources))}",
                )
            )
            genre_of[tid] = g
            by_genre[g].append(tid)
            tid += 1
    return World(tracks, Catalog(tracks), genre_of, by_genre, centres)


def genres_of(world: World, picks) -> list[str]:
    return [world.genre_of[p.track_id] for p in picks]


def best_sim(catalog: Catalog, track_id: int, likes: list[int]) -> float:
    v = catalog[track_id].embedding
    return float(max(float(v @ catalog[i].embedding) for i in likes))
