"""Export the pretrained musicnn checkpoints (PyPI ``musicnn==0.1.0``, ISC) to ONNX.

Reproducible. With the export extra installed (``pip install -e '.[export]'``) and the wheel
fetched (``pip download --no-deps musicnn==0.1.0 -d /tmp/wheel``):

    python models/export_musicnn.py --wheel /tmp/wheel/musicnn-0.1.0-py3-none-any.whl

writes into ``models/``:

- ``musicnn_msd_encoder.onnx``: log-mel patches [B,T,96] (T=187 in use) -> ``embedding`` [B,200]
  (the penultimate layer), ``mean_pool`` and ``max_pool`` [B,753] (the back-end's pooled features).
- ``msd_head.onnx``: embedding [B,200] -> ``tags`` [B,50] (the original dense layer + sigmoid).
- ``mtt_head.onnx``: embedding [B,200] -> ``tags`` [B,50]: MagnaTagATune tags *distilled* onto the
  MSD embedding (ridge regression on MTT_musicnn's logits), so one encoder pass serves both tag
  sets. See ``models/distill.py``.
- ``msd_labels.json``, ``mtt_labels.json``, ``reference_outputs.npz`` (patches from a fixture and
  what the exported models computed for them; ``tests/models`` checks the committed files still do)
  and ``parity.json`` (ONNX vs the original TensorFlow graph).

Facts behind each step: ../shared/notes/musicnn-to-onnx.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
REPO = MODELS_DIR.parent
sys.path.insert(0, str(REPO))

TF_OUTPUTS = {
    "taggram": "model/Sigmoid:0",
    "logits": "model/dense_1/BiasAdd:0",
    "embedding": "model/batch_normalization_10/batchnorm/add_1:0",
    "mean_pool": "model/moments/Squeeze:0",
    "max_pool": "model/Max:0",
}
ENCODER_OUTPUTS = ["embedding", "mean_pool", "max_pool"]
REFERENCE_CLIP = REPO / "tests" / "fixtures" / "vibe_ace.ogg"


def unpack_checkpoints(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return dest / "musicnn"


def export_full(ckpt_dir: Path, probe_patches: np.ndarray, opset: int = 13):
    """Convert one checkpoint to an ONNX ModelProto with all TF_OUTPUTS.

    Returns (model_proto, tf_outputs on ``probe_patches``) for the parity check.
    """
    import tensorflow as tf
    import tf2onnx
    from tensorflow.core.protobuf import meta_graph_pb2

    tf1 = tf.compat.v1
    tf1.disable_eager_execution()
    mg = meta_graph_pb2.MetaGraphDef()
    mg.ParseFromString((ckpt_dir / ".meta").read_bytes())
    # TF 2.x refuses the TF 1.12 training graph unless the recorded shapes are dropped.
    for node in mg.graph_def.node:
        node.attr.pop("_output_shapes", None)

    graph = tf1.Graph()
    with graph.as_default():
        patches = tf1.placeholder(tf.float32, [None, None, 96], name="patches")
        saver = tf1.train.import_meta_graph(
            mg,
            clear_devices=True,
            input_map={"model/Placeholder:0": patches, "model/Placeholder_2:0": tf.constant(False)},
        )
        with tf1.Session(graph=graph) as sess:
            # The checkpoint's file prefix is empty and its `checkpoint` file points at the
            # author's home directory, so restore from the directory path itself.
            saver.restore(sess, str(ckpt_dir) + "/")
            outs = []
            for name, tensor in TF_OUTPUTS.items():
                t = graph.get_tensor_by_name(tensor)
                if name in ("mean_pool", "max_pool"):
                    t = tf.squeeze(t, axis=2)
                outs.append(tf.identity(t, name=name))
            tf_values = dict(zip(TF_OUTPUTS, sess.run(outs, {patches: probe_patches}), strict=True))
            names = [o.name.split(":")[0] for o in outs]
            frozen = tf1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), names)
    frozen = tf1.graph_util.remove_training_nodes(frozen, protected_nodes=names)
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen,
        input_names=["patches:0"],
        output_names=[n + ":0" for n in names],
        opset=opset,
        tensors_to_rename={"patches:0": "patches", **{n + ":0": n for n in names}},
    )
    # tf2onnx gives each output its own symbolic batch dim: make them all "batch".
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "frames"
    return proto, tf_values


def run_onnx(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds), strict=True))


def cut_encoder(full):
    """The full graph with only the encoder outputs (the dense head is pruned away)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "full.onnx", Path(tmp) / "enc.onnx"
        onnx.save(full, src)
        onnx.utils.extract_model(str(src), str(dst), ["patches"], ENCODER_OUTPUTS)
        enc = onnx.load(dst)
    enc.doc_string = "musicnn MSD encoder: log-mel patches -> 200-d embedding + pooled features"
    return enc


def dense_weights(full) -> tuple[np.ndarray, np.ndarray]:
    """The original 200->50 output layer's kernel and bias, read from the graph."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in full.graph.initializer}
    return inits["dense_1/kernel:0"].astype(np.float32), inits["dense_1/bias:0"].astype(np.float32)


def make_head(kernel: np.ndarray, bias: np.ndarray, doc: str):
    """A tiny ONNX graph: embedding [B,200] -> sigmoid(embedding @ kernel + bias) [B,50]."""
    from onnx import TensorProto, helper, numpy_helper

    d_in, d_out = kernel.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["embedding", "kernel"], ["mm"]),
            helper.make_node("Add", ["mm", "bias"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["tags"]),
        ],
        "tag_head",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", d_in])],
        [
            helper.make_tensor_value_info("tags", TensorProto.FLOAT, ["batch", d_out]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", d_out]),
        ],
        [numpy_helper.from_array(kernel, "kernel"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = doc
    return model


def reference_patches(n: int = 4) -> np.ndarray:
    from inference.frontend import log_mel, to_patches
    from models.distill import load_audio_16k

    return to_patches(log_mel(load_audio_16k(REFERENCE_CLIP)))[:n]


def max_abs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.max(np.abs(a[k] - b[k]))) for k in a if k in b}


def main() -> None:
    import onnx

    from models import distill
    from models.labels import MSD_TAGS, MTT_TAGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--distill-audio", type=Path, nargs="*", default=distill.default_audio_dirs())
    args = parser.parse_args()

    probe = reference_patches()
    parity: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = unpack_checkpoints(args.wheel, Path(tmp))
        msd_full, msd_tf = export_full(root / "MSD_musicnn", probe)
        mtt_full, mtt_tf = export_full(root / "MTT_musicnn", probe)
    parity["MSD_musicnn"] = max_abs(msd_tf, run_onnx(msd_full.SerializeToString(), {"patches": probe}))
    parity["MTT_musicnn"] = max_abs(mtt_tf, run_onnx(mtt_full.SerializeToString(), {"patches": probe}))

    encoder = cut_encoder(msd_full)
    kernel, bias = dense_weights(msd_full)
    msd_head = make_head(kernel, bias, "musicnn MSD tag head (original weights): 50 Last.fm tags")
    onnx.save(encoder, args.out / "musicnn_msd_encoder.onnx")
    onnx.save(msd_head, args.out / "msd_head.onnx")

    # Distil MTT_musicnn's 50 tags onto the MSD embedding so one encoder pass serves both.
    report = distill.distill_mtt_head(
        encoder.SerializeToString(), mtt_full.SerializeToString(), args.distill_audio
    )
    mtt_head = make_head(report.kernel, report.bias, "MTT tags distilled onto the MSD embedding")
    onnx.save(mtt_head, args.out / "mtt_head.onnx")

    # Reference outputs of the files just written, for tests/models/test_parity.py.
    enc_out = run_onnx(encoder.SerializeToString(), {"patches": probe})
    msd_tags = run_onnx(msd_head.SerializeToString(), {"embedding": enc_out["embedding"]})["tags"]
    mtt_tags = run_onnx(mtt_head.SerializeToString(), {"embedding": enc_out["embedding"]})["tags"]
    parity["msd_head_vs_full_graph"] = {"tags": float(np.max(np.abs(msd_tags - msd_tf["taggram"])))}
    np.savez_compressed(
        args.out / "reference_outputs.npz",
        patches=probe,
        embedding=enc_out["embedding"],
        mean_pool=enc_out["mean_pool"],
        max_pool=enc_out["max_pool"],
        msd_tags=msd_tags,
        mtt_tags=mtt_tags,
    )
    (args.out / "msd_labels.json").write_text(json.dumps(MSD_TAGS, indent=1) + "\n")
    (args.out / "mtt_labels.json").write_text(json.dumps(MTT_TAGS, indent=1) + "\n")
    summary = {"parity_max_abs_diff": parity, "mtt_distillation": report.metrics}
    (args.out / "parity.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
