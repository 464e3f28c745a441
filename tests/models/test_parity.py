"""The committed ONNX models still compute what the export computed (models/reference_outputs.npz)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inference.frontend import log_mel, to_patches
from inference.models import MODELS_DIR, ModelSet
from tests.audio_helpers import FIXTURES as FIXTURES_DIR
from tests.audio_helpers import load_fixture


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return ModelSet(threads=1)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(MODELS_DIR / "reference_outputs.npz") as z:
        return {k: z[k] for k in z.files}


def test_encoder_and_heads_match_export(models: ModelSet, reference: dict[str, np.ndarray]) -> None:
    out = models.run(reference["patches"])
    np.testing.assert_allclose(out.embedding, reference["embedding"], atol=1e-4)
    np.testing.assert_allclose(out.mean_pool, reference["mean_pool"], atol=1e-4)
    np.testing.assert_allclose(out.max_pool, reference["max_pool"], rtol=1e-4, atol=2e-3)
    np.testing.assert_allclose(out.msd_tags, reference["msd_tags"], atol=1e-5)
    np.testing.assert_allclose(out.mtt_tags, reference["mtt_tags"], atol=1e-5)


def test_front_end_reproduces_reference_patches(reference: dict[str, np.ndarray]) -> None:
    """The numpy front end of today gives the patches the export used (vibe_ace.ogg, first 4)."""
    patches = to_patches(log_mel(load_fixture("vibe_ace.ogg")))[: len(reference["patches"])]
    # The export decoded with ffmpeg, the runtime with libsndfile + soxr: resampler differences only.
    assert np.median(np.abs(patches - reference["patches"])) < 0.02


def test_reference_clip_tags_are_musical(models: ModelSet, reference: dict[str, np.ndarray]) -> None:
    """A jazz vibraphone clip: 'jazz' is among the top MSD tags of the exported head."""
    top = np.argsort(-reference["msd_tags"].mean(0))[:3]
    assert "jazz" in [models.msd_labels[i] for i in top]


def test_parity_with_tensorflow_was_recorded() -> None:
    parity = json.loads((MODELS_DIR / "parity.json").read_text())["parity_max_abs_diff"]
    assert parity["MSD_musicnn"]["taggram"] < 1e-4
    assert parity["MSD_musicnn"]["embedding"] < 1e-3
    assert parity["msd_head_vs_full_graph"]["tags"] < 1e-4


# ----------------------------------------------------------------------------- EfficientAT (AudioSet)


@pytest.fixture(scope="module")
def audioset_reference() -> dict[str, np.ndarray]:
    """The first 2 s of vibe_ace.ogg at 32 kHz, the reference front end's log-mel of its first
    10 s, and the PyTorch model's outputs for that mel (../shared/models/efficientat_mn04_as)."""
    with np.load(MODELS_DIR / "efficientat_reference.npz") as z:
        return {k: z[k] for k in z.files}


def test_audioset_front_end_matches_the_reference(audioset_reference: dict[str, np.ndarray]) -> None:
    from inference.frontend_audioset import HOP, N_FFT, log_mel

    mel = log_mel(audioset_reference["wave_32k_2s"], MODELS_DIR)  # [frames, 128]
    # Frames whose window lies inside the 2 s cut are the reference's frames exactly.
    inside = (len(audioset_reference["wave_32k_2s"]) - 1 - N_FFT // 2) // HOP + 1
    np.testing.assert_allclose(mel[:inside], audioset_reference["mel"].T[:inside], atol=2e-5)


def test_audioset_model_matches_the_reference(models: ModelSet, audioset_reference: dict[str, np.ndarray]) -> None:
    probs, emb, taps = models.audioset_run(audioset_reference["mel"].T[None])
    np.testing.assert_allclose(probs[0], audioset_reference["probs"], atol=1e-5)
    np.testing.assert_allclose(emb[0], audioset_reference["embedding"], atol=1e-5)
    assert models.audioset_labels[int(np.argmax(probs[0]))] == "Music"
    # The shipped graph's extra output (models/add_audioset_taps.py): means and maxima of four inner
    # blocks' activations; every block's max is at least its mean.
    assert taps.shape == (1, 320) and np.isfinite(taps).all()
    blocks = np.split(taps[0], [16, 32, 64, 96, 144, 192, 256])  # (mean, max) of 16, 32, 48, 64 channels
    for mean, peak in zip(blocks[0::2], blocks[1::2], strict=True):
        assert (peak >= mean - 1e-6).all()


def test_audioset_on_the_runtime_decode(models: ModelSet, audioset_reference: dict[str, np.ndarray]) -> None:
    """Our decoder + front end + model on the same 10 s agree with the reference outputs (the
    reference resampled with another resampler: small differences only)."""
    from inference.audio import decode
    from inference.frontend_audioset import log_mel

    samples, _ = decode(FIXTURES_DIR / "vibe_ace.ogg", rate=32000)
    probs, _emb, _taps = models.audioset_run(log_mel(samples[: 32000 * 10], MODELS_DIR)[None])
    assert np.abs(probs[0] - audioset_reference["probs"]).max() < 0.05
    assert np.corrcoef(probs[0], audioset_reference["probs"])[0, 1] > 0.99


def test_audioset_taps_are_the_inner_blocks_pooled(audioset_reference: dict[str, np.ndarray]) -> None:
    """``taps`` (models/add_audioset_taps.py) is, in order, the global mean and max of the feature
    maps of blocks 6, 10, 12 and 15: read those maps out of the shipped graph and pool them here."""
    import onnx
    import onnxruntime as ort

    from models.add_audioset_taps import TAP_BLOCKS, TAP_OUTPUT

    model = onnx.load(str(MODELS_DIR / "efficientat_mn04_as.onnx"))
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in TAP_BLOCKS.values())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    mel = audioset_reference["mel"][None, None]
    rng = np.random.default_rng(0)
    batch = np.concatenate([mel, mel + rng.normal(0, 0.5, mel.shape).astype(np.float32)])  # two different patches
    taps, *maps = session.run([TAP_OUTPUT, *TAP_BLOCKS.values()], {"mel": batch})
    expected = np.concatenate([np.concatenate([m.mean(axis=(2, 3)), m.max(axis=(2, 3))], axis=1) for m in maps], axis=1)
    assert [m.shape[1] for m in maps] == [16, 32, 48, 64] and taps.shape == (2, 320)
    np.testing.assert_allclose(taps, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(taps[0] - taps[1]).max() > 1e-3  # each patch gets its own
