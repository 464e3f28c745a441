"""Give the shipped EfficientAT model one more output: pooled features from inside the network.

    .venv/bin/python models/add_audioset_taps.py [--src ../shared/models/efficientat_mn04_as/efficientat_mn04_as.onnx]

It needs onnx, which the dev venv (``make test``) and the ``export`` extra both install.

The model's own outputs, ``probs`` (527 AudioSet classes) and ``embedding`` (the global mean of
its last feature map), describe a patch at the network's end. The genre head also reads the
global mean and max of four intermediate blocks' feature maps (features.6, .10, .12, .15: 16, 32,
48 and 64 channels), which keep more of the texture and rhythm the last layers abstract away.
They are computed by nodes appended to the graph, concatenated into one output, ``taps``
[N, 320]: (block 6 mean, block 6 max, block 10 mean, ... block 15 max). The weights and the two
original outputs are unchanged (checked here against the reference outputs). Measured side by side
in models/MODEL_CARD.md ("Genre").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SRC = REPO.parent / "shared" / "models" / "efficientat_mn04_as" / "efficientat_mn04_as.onnx"
DST = REPO / "models" / "efficientat_mn04_as.onnx"
TAP_BLOCKS = {6: "/features.6/Add_output_0", 10: "/features.10/Add_output_0", 12: "/features.12/Add_output_0", 15: "/features.15/Add_output_0"}
TAP_OUTPUT = "taps"


def add_taps(model):  # onnx.ModelProto -> the same, with the "taps" output
    from onnx import TensorProto, helper

    graph = model.graph
    pooled = []
    for block, tensor in TAP_BLOCKS.items():
        for op in ("GlobalAveragePool", "GlobalMaxPool"):
            name = f"/taps/block{block}_{op}"
            graph.node.append(helper.make_node(op, [tensor], [name + "_4d"], name=name))
            graph.node.append(helper.make_node("Flatten", [name + "_4d"], [name], name=name + "_flat"))
            pooled.append(name)
    graph.node.append(helper.make_node("Concat", pooled, [TAP_OUTPUT], name="/taps/concat", axis=1))
    graph.output.append(helper.make_tensor_value_info(TAP_OUTPUT, TensorProto.FLOAT, ["batch", 320]))
    return model


def main(argv: list[str] | None = None) -> int:
    import onnx
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=SRC)
    ap.add_argument("--dst", type=Path, default=DST)
    args = ap.parse_args(argv)
    model = add_taps(onnx.load(str(args.src)))
    onnx.checker.check_model(model)
    onnx.save(model, str(args.dst))
    with np.load(REPO / "models" / "efficientat_reference.npz") as z:
        mel, probs, emb = z["mel"], z["probs"], z["embedding"]
    out = ort.InferenceSession(str(args.dst), providers=["CPUExecutionProvider"]).run(None, {"mel": mel[None, None]})
    worst = max(float(np.abs(out[0][0] - probs).max()), float(np.abs(out[1][0] - emb).max()))
    print(f"wrote {args.dst}: outputs {[o.name for o in model.graph.output]}, taps {out[2].shape}, "
          f"largest difference from the reference outputs {worst:.1e}")  # fmt: skip
    return 0 if worst < 1e-5 and out[2].shape == (1, 320) else 1


if __name__ == "__main__":
    sys.exit(main())
