"""Genre breakdown per 3-second patch over a vocabulary a music fan recognises.

Two routes, documented in models/MODEL_CARD.md:

- **Zero-shot from tags** for the 12 genres the pretrained tag sets name: each genre's evidence is
  the strongest of its tags (MSD's Last.fm tags and the MTT tags distilled onto the same
  embedding), weighted by how specific the tag is. ``classical`` comes from MTT (MSD has none).
- **Few-shot detectors** for genres no tag names (reggae, disco): a shrinkage-LDA direction in
  embedding space, fitted on labelled patches by ``models/fit_genres.py`` and committed as
  ``models/genre_detectors.npz``.

Both give a log-score per genre; a softmax with temperature turns them into shares per patch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "electronic", "folk", "hip-hop", "jazz", "metal",
    "pop", "punk", "reggae", "rnb/soul", "rock",
)  # fmt: skip

# genre -> [(tag set, tag, weight)]: weight < 1 for tags that are only partly that genre.
TAG_MAP: dict[str, list[tuple[str, str, float]]] = {
    "blues": [("msd", "blues", 1.0)],
    "classical": [
        ("mtt", "classical", 1.0), ("mtt", "classic", 0.8), ("mtt", "strings", 0.5),
        ("mtt", "violin", 0.5), ("mtt", "harpsichord", 0.6), ("mtt", "opera", 0.6),
        ("mtt", "choral", 0.6),
    ],
    "country": [("msd", "country", 1.0), ("mtt", "country", 0.8)],
    "electronic": [
        ("msd", "electronic", 0.8), ("msd", "electronica", 0.8), ("msd", "electro", 0.8),
        ("msd", "House", 0.9), ("mtt", "techno", 0.8), ("msd", "dance", 0.6),
    ],
    "folk": [("msd", "folk", 1.0), ("msd", "acoustic", 0.6)],
    "hip-hop": [("msd", "Hip-Hop", 1.0)],
    "jazz": [("msd", "jazz", 1.0)],
    "metal": [
        ("msd", "metal", 1.0), ("msd", "heavy metal", 1.0), ("mtt", "metal", 0.8),
        ("msd", "hard rock", 0.6),
    ],
    "pop": [("msd", "pop", 1.0), ("msd", "indie pop", 0.8), ("mtt", "pop", 0.8), ("msd", "catchy", 0.5)],
    "punk": [("msd", "punk", 1.0)],
    "rnb/soul": [("msd", "soul", 1.0), ("msd", "rnb", 1.0), ("msd", "funk", 0.8)],
    "rock": [
        ("msd", "rock", 1.0), ("msd", "classic rock", 0.9), ("msd", "hard rock", 0.8),
        ("msd", "alternative rock", 0.9), ("msd", "indie rock", 0.9),
        ("msd", "Progressive rock", 0.8), ("mtt", "rock", 0.8),
    ],
}  # fmt: skip

TEMPERATURE = 0.5  # softmax temperature over log-scores (chosen on the devset, see fit_genres)
FLOOR = np.log(1e-6)

# Aliases so labels match case- and punctuation-insensitively: "hiphop" = "hip-hop", "r&b" = "rnb/soul".
ALIASES = {
    "hiphop": "hip-hop", "rap": "hip-hop", "rnb": "rnb/soul", "randb": "rnb/soul",
    "rnbsoul": "rnb/soul", "soul": "rnb/soul", "rhythmandblues": "rnb/soul",
    "electronica": "electronic", "edm": "electronic", "heavymetal": "metal", "punkrock": "punk",
}  # fmt: skip


def normalise_label(label: str) -> str:
    """Map a free-form label onto the vocabulary when it names one of its genres, else its key."""
    key = re.sub(r"[^a-z0-9]", "", label.lower().replace("&", "and"))
    for genre in GENRES:
        if key == re.sub(r"[^a-z0-9]", "", genre.replace("&", "and")):
            return genre
    return ALIASES.get(key, key)


def display_name(genre: str) -> str:
    return {"rnb/soul": "R&B/soul", "hip-hop": "hip-hop"}.get(genre, genre)


@dataclass(frozen=True)
class GenreDetectors:
    """Few-shot detectors for genres without a tag: score = scale * (x @ w + b) + offset."""

    genres: tuple[str, ...]
    weights: np.ndarray  # [G', D]
    bias: np.ndarray  # [G']
    scale: float
    offset: float

    @classmethod
    def load(cls, path: Path) -> GenreDetectors:
        with np.load(path) as z:
            return cls(
                genres=tuple(str(g) for g in z["genres"]),
                weights=z["weights"].astype(np.float32),
                bias=z["bias"].astype(np.float32),
                scale=float(z["scale"]),
                offset=float(z["offset"]),
            )

    def scores(self, unit_embedding: np.ndarray) -> np.ndarray:
        """[N, D] unit rows -> [N, G'] log-scores."""
        return self.scale * (unit_embedding @ self.weights.T + self.bias) + self.offset


class GenreModel:
    """Per-patch genre shares from tag probabilities and the embedding."""

    def __init__(self, msd_labels: list[str], mtt_labels: list[str], detectors: GenreDetectors | None) -> None:
        self.detectors = detectors
        index = {"msd": {t: i for i, t in enumerate(msd_labels)}, "mtt": {t: i for i, t in enumerate(mtt_labels)}}
        # [G, 100] weight matrix over the concatenated tag vector; zero where a tag is unused.
        self._weights = np.zeros((len(GENRES), len(msd_labels) + len(mtt_labels)), np.float32)
        for g, genre in enumerate(GENRES):
            for source, tag, weight in TAG_MAP.get(genre, []):
                col = index[source][tag] + (len(msd_labels) if source == "mtt" else 0)
                self._weights[g, col] = weight

    def log_scores(self, msd: np.ndarray, mtt: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """[N,50], [N,50], [N,D] -> [N, G] log-scores (strongest weighted tag per genre)."""
        tags = np.concatenate([msd, mtt], axis=1)  # [N, 100]
        weighted = tags[:, None, :] * self._weights[None, :, :]  # [N, G, 100]
        scores = np.log(np.clip(weighted.max(axis=2), 1e-6, 1.0))
        scores[:, self._weights.max(axis=1) == 0] = FLOOR
        if self.detectors is not None and len(embedding):
            unit = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-9)
            det = self.detectors.scores(unit)
            for j, genre in enumerate(self.detectors.genres):
                scores[:, GENRES.index(genre)] = det[:, j]
        return scores

    def shares(self, msd: np.ndarray, mtt: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        """Per-patch genre shares [N, G], rows summing to 1."""
        z = self.log_scores(msd, mtt, embedding) / TEMPERATURE
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)
