"""The neighbour vote (genre and mood): nearest training clips by whitened cosine, blended into a track's shares."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.analysis import Analyzer
from inference.features import PatchFeatures
from inference.genres import GENRES, GenreModel
from inference.heads import Classifier, MoodModel, NeighbourVote, feature_matrix
from inference.models import MODELS_DIR
from inference.mood import QUADRANTS
from models.neighbours import choose_blend, fit_vote

BLOCKS = ("musicnn",)
CLASSES = ("jazz", "rock", "pop")


def three_genres(rng: np.random.Generator) -> tuple[list[np.ndarray], list[str], dict[str, np.ndarray]]:
    """Ten clips of 3 patches per genre; the genres' centres span a plane of the 200-d space."""
    a, b = rng.standard_normal(200), rng.standard_normal(200)
    centres = {"jazz": 4 * a, "rock": 4 * b, "pop": -4 * (a + b)}
    clips, labels = [], []
    for genre, centre in centres.items():
        clips += [centre + 0.05 * rng.standard_normal((3, 200)) for _ in range(10)]
        labels += [genre] * 10
    return clips, labels, centres


def test_the_vote_follows_the_nearest_clips_and_sums_to_one(tmp_path) -> None:
    rng = np.random.default_rng(0)
    clips, labels, centres = three_genres(rng)
    vote = fit_vote(clips, labels, CLASSES, BLOCKS, k=5, weight=0.2, dims=2)
    for genre, centre in centres.items():
        probs = vote.probs(centre + 0.05 * rng.standard_normal((4, 200)))
        assert probs.shape == (3,) and abs(probs.sum() - 1) < 1e-6
        assert probs[CLASSES.index(genre)] > 0.99, genre
    assert not vote.probs(np.zeros((0, 200))).any()  # no voting patch: no vote

    vote.save(tmp_path / "v.npz")
    loaded = NeighbourVote.load(tmp_path / "v.npz")
    assert (loaded.k, loaded.weight, loaded.classes, loaded.space.blocks) == (5, np.float32(0.2), CLASSES, BLOCKS)
    rock = centres["rock"][None]
    np.testing.assert_allclose(loaded.probs(rock), vote.probs(rock), atol=1e-6)


def test_the_blend_setting_is_chosen_on_other_folds_for_the_nested_figure() -> None:
    # A head that is always wrong on fold 0 and right elsewhere, a vote that is always right:
    # every weight that lets the vote win scores 1.0; the nested figure is scored the same way.
    y = np.array([0, 1] * 10)
    right = np.eye(2)[y]
    head = right.copy()
    head[:4] = 1 - head[:4]
    folds = [np.arange(0, 4), np.arange(4, 12), np.arange(12, 20)]
    votes = {k: right for k in (5, 10, 20)}
    (k, weight), nested, grid = choose_blend(head, votes, y, folds)
    assert weight > 0.0 and grid[f"k={k}, weight={weight}"] >= grid["k=5, weight=0.0"]
    assert grid["k=5, weight=0.0"] == 0.8
    assert 0.8 <= nested <= 1.0


def patch_features(n: int, rng: np.random.Generator) -> PatchFeatures:
    """Made-up outputs of both models for n patches (the shapes the runtime produces)."""
    r = lambda *shape: rng.random(shape, dtype=np.float32)  # noqa: E731
    return PatchFeatures(
        np.arange(n) * 3.0, np.full(n, -20.0), np.ones(n, bool), r(n, 200), r(n, 753), r(n, 753),
        r(n, 50), r(n, 50), r(n, 527), r(n, 384), r(n, 320),
    )  # fmt: skip


def test_a_tracks_shares_are_the_patch_mean_blended_with_the_vote() -> None:
    rng = np.random.default_rng(1)
    clips, labels, centres = three_genres(rng)
    vote = fit_vote(clips, labels, CLASSES, BLOCKS, k=5, weight=0.25, dims=2)
    labels_json = json.loads((MODELS_DIR / "audioset_labels.json").read_text())
    model = GenreModel(Classifier.load(MODELS_DIR / "genre_head.npz"), labels_json, vote)
    feats = patch_features(4, rng)
    feats.musicnn[:] = centres["rock"] + 0.05 * rng.standard_normal((4, 200))
    rows = np.array([0, 2, 3])  # patch 1 does not vote (silence)
    patch_shares = model.shares(feature_matrix(feats, model.head.blocks, rows), feats.audioset[rows])

    shares = model.track_shares(patch_shares, feature_matrix(feats, model.vote_blocks, rows))

    expected = 0.75 * patch_shares.mean(0)
    expected[[GENRES.index(c) for c in CLASSES]] += 0.25 * vote.probs(feats.musicnn[rows])
    np.testing.assert_allclose(shares, expected, atol=1e-6)
    assert abs(shares.sum() - 1) < 1e-5 and shares[GENRES.index("rock")] >= 0.25 * 0.99
    np.testing.assert_allclose(GenreModel(model.head, labels_json).track_shares(patch_shares, feature_matrix(feats, BLOCKS, rows)), patch_shares.mean(0))


def test_the_committed_analyzer_blends_with_its_neighbour_vote() -> None:
    heads = Analyzer.load(threads=1).heads
    vote = heads.genre.neighbours
    assert vote is not None and 0 < vote.weight < 1 and vote.k >= 1
    assert set(vote.classes) <= set(GENRES) and len(vote.refs) == len(vote.labels) > 1000
    np.testing.assert_allclose(np.linalg.norm(vote.refs, axis=1), 1, atol=1e-4)


def test_the_mood_is_the_head_blended_with_its_vote(tmp_path) -> None:
    rng = np.random.default_rng(2)
    clips, labels, centres = three_genres(rng)
    quadrant = dict(zip(CLASSES, QUADRANTS[:3], strict=False))
    mood_labels = [quadrant[g] for g in labels]
    head = Classifier(BLOCKS, QUADRANTS, np.zeros(200), np.ones(200), rng.standard_normal((4, 200)) * 0.01, np.zeros(4), 1.0)
    head.save(tmp_path / "mood_head.npz", per_patch=np.bool_(False))
    vote = fit_vote(clips, mood_labels, QUADRANTS, BLOCKS, k=5, weight=0.4, dims=2)
    vote.save(tmp_path / "mood_neighbours.npz")
    model = MoodModel.load(tmp_path / "mood_head.npz", tmp_path / "mood_neighbours.npz")
    x = centres["pop"] + 0.05 * rng.standard_normal((3, 200))

    shares = model.probs(x)

    expected = 0.6 * head.probs(x.mean(0, keepdims=True))[0] + 0.4 * vote.probs(x)
    np.testing.assert_allclose(shares, expected, atol=1e-6)
    assert not model.per_patch and abs(shares.sum() - 1) < 1e-5 and shares.argmax() == QUADRANTS.index(quadrant["pop"])
    assert not model.probs(np.zeros((0, 200))).any()  # no voting patch: no mood
    np.testing.assert_allclose(MoodModel(head, True).probs(x), head.probs(x).mean(0), atol=1e-6)


def test_a_mood_vote_over_other_classes_or_blocks_is_refused() -> None:
    rng = np.random.default_rng(3)
    clips, labels, _centres = three_genres(rng)
    head = Classifier(BLOCKS, QUADRANTS, np.zeros(200), np.ones(200), np.zeros((4, 200)), np.zeros(4), 1.0)
    genre_vote = fit_vote(clips, labels, CLASSES, BLOCKS, k=5, weight=0.4, dims=2)
    with pytest.raises(ValueError, match="mood vote"):
        MoodModel(head, False, genre_vote)


def test_the_committed_analyzer_blends_the_mood_with_its_vote() -> None:
    mood = Analyzer.load(threads=1).heads.mood
    assert mood.neighbours is not None and 0 < mood.neighbours.weight < 1
    assert mood.neighbours.classes == mood.head.classes == QUADRANTS and len(mood.neighbours.refs) == 888
