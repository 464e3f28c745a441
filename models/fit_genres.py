"""Fit the few-shot genre detectors (reggae, disco) and report leave-one-clip-out accuracy.

    python models/fit_genres.py            # writes models/genre_detectors.npz + genre_fit.json

Labelled examples: ../shared/data/devset (labels.csv; style labels mapped onto the vocabulary,
e.g. dub -> reggae) plus the bundled fixtures. Only derived numbers (a direction in embedding
space per genre) are committed, never the recordings. Because the devset also serves
``earworm eval``, its figures for reggae and disco are partly in-sample: genre_fit.json records
the honest leave-one-clip-out accuracy next to them.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inference.frontend import log_mel, to_patches  # noqa: E402
from inference.genres import GENRES, GenreDetectors, GenreModel, normalise_label  # noqa: E402
from inference.models import ModelSet  # noqa: E402
from models.distill import load_audio_16k  # noqa: E402

DEVSET = REPO.parent / "shared" / "data" / "devset"
DETECTED = ("reggae", "disco")
SHRINKAGE, SCALE, OFFSET = 0.3, 0.3, -3.0  # chosen by leave-one-clip-out on the devset
# Finer style labels that belong to one vocabulary genre.
STYLE_TO_GENRE = {
    "dub": "reggae", "swing": "jazz", "bop": "jazz", "contemporary_jazz": "jazz", "funk": "rnb/soul",
    "gospel": "rnb/soul", "doo_wop": "rnb/soul", "techno": "electronic", "house": "electronic",
    "trance": "electronic", "electro": "electronic", "ambient": "electronic", "heavy_metal": "metal",
    "indie_rock": "rock", "europop": "pop",
}  # fmt: skip
FIXTURE_LABELS = {
    "vibe_ace.ogg": "jazz", "sugar_plum_fairy.ogg": "classical", "hungarian_dance_5.ogg": "classical",
    "lets_go_fishin.ogg": "folk", "solo_trumpet.ogg": "jazz",
}  # fmt: skip


def labelled_clips() -> list[tuple[Path, str, str]]:
    clips = []
    with open(DEVSET / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            genre = normalise_label(STYLE_TO_GENRE.get(row["label"], row["label"]))
            if genre in GENRES:
                clips.append((DEVSET / row["file"], genre, row["label_set"]))
    clips += [(REPO / "tests" / "fixtures" / f, g, "fixture") for f, g in FIXTURE_LABELS.items()]
    return clips


def lda_direction(x: np.ndarray, positive: np.ndarray, shrinkage: float) -> tuple[np.ndarray, float]:
    """Two-class LDA with a shrunk pooled covariance: robust with a handful of positives."""
    mu1, mu0 = x[positive].mean(0), x[~positive].mean(0)
    centred = np.concatenate([x[positive] - mu1, x[~positive] - mu0])
    cov = centred.T @ centred / len(centred)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
    w = np.linalg.solve(cov, mu1 - mu0)
    return w.astype(np.float32), float(-w @ (mu1 + mu0) / 2)


def fit(features: list[dict], skip: int | None = None) -> GenreDetectors:
    train = [f for i, f in enumerate(features) if i != skip]
    x = np.concatenate([f["unit"] for f in train])
    ws, bs = [], []
    for genre in DETECTED:
        positive = np.concatenate([np.full(len(f["unit"]), f["genre"] == genre) for f in train])
        w, b = lda_direction(x, positive, SHRINKAGE)
        ws.append(w)
        bs.append(b)
    return GenreDetectors(DETECTED, np.stack(ws), np.asarray(bs, np.float32), SCALE, OFFSET)


def main() -> None:
    models = ModelSet(threads=2)
    features = []
    for path, genre, label_set in labelled_clips():
        patches = to_patches(log_mel(load_audio_16k(path)))
        if not len(patches):
            continue
        out = models.run(patches)
        unit = out.embedding / np.linalg.norm(out.embedding, axis=1, keepdims=True)
        features.append({"file": path.name, "genre": genre, "set": label_set, "unit": unit, "out": out})

    def predict(det: GenreDetectors, f: dict) -> str:
        gm = GenreModel(models.msd_labels, models.mtt_labels, det)
        shares = gm.shares(f["out"].msd_tags, f["out"].mtt_tags, f["out"].embedding)
        return GENRES[int(np.argmax(shares.mean(0)))]

    loo = {}
    for i, f in enumerate(features):
        loo.setdefault(f["set"], []).append(predict(fit(features, skip=i), f) == f["genre"])
    final = fit(features)
    in_sample = {}
    for f in features:
        in_sample.setdefault(f["set"], []).append(predict(final, f) == f["genre"])
    np.savez(
        REPO / "models" / "genre_detectors.npz",
        genres=np.array(final.genres), weights=final.weights, bias=final.bias,
        scale=np.float32(final.scale), offset=np.float32(final.offset),
    )  # fmt: skip
    report = {
        "detected_genres": list(DETECTED),
        "examples": {g: sum(f["genre"] == g for f in features) for g in DETECTED},
        "accuracy_leave_one_clip_out": {k: round(float(np.mean(v)), 3) for k, v in loo.items()},
        "accuracy_in_sample": {k: round(float(np.mean(v)), 3) for k, v in in_sample.items()},
        "clips": {k: len(v) for k, v in loo.items()},
    }
    (REPO / "models" / "genre_fit.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
