"""Markdown tables for models/MODEL_CARD.md from models/heads_report.json (what train_heads wrote).

    .venv/bin/python models/card_tables.py [models/heads_report.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def candidates(section: dict, extra: tuple[str, ...] = ()) -> str:
    rows = []
    for name, t in section["candidates"].items():
        mark = " (chosen)" if name == section["chosen"] else ""
        rows.append([name + mark, t["accuracy"], t["balanced_accuracy"], *(t.get(e, "") for e in extra)])
    return table(["candidate", "top-1", "balanced"] + [e.replace("_", " ") for e in extra], rows)


def per_class(section: dict, baseline: str) -> str:
    chosen, base = section["candidates"][section["chosen"]], section["candidates"][baseline]
    rows = [
        [cl, v["n"], base["per_class"].get(cl, {}).get("accuracy", ""), v["accuracy"]]
        for cl, v in chosen["per_class"].items()
    ]
    return table(["class", "clips", "baseline", "chosen"], rows)


def confusion(section: dict) -> str:
    conf = section["candidates"][section["chosen"]]["confusion"]
    classes = list(conf)
    predicted = sorted({p for row in conf.values() for p in row})
    rows = [[c] + [conf[c].get(p, "") for p in predicted] for c in classes]
    return table(["true \\ predicted"] + predicted, rows)


def main() -> None:
    report = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "models/heads_report.json").read_text())
    g, m = report["genre"], report["mood"]
    out = [
        "### Genre candidates (single-label clips, group folds)", candidates(g, ("accuracy_without_excerpts",)),
        "### Genre per class", per_class(g, "baseline: LR on clip-mean embeddings"),
        "### Genre confusion (chosen)", confusion(g),
        "### Mood candidates", candidates(m, ("nested_accuracy",)),
        "### Mood per quadrant", per_class(m, "baseline: LR on clip-mean embeddings"),
        "### Mood confusion (chosen)", confusion(m),
        "### Embedding (P@k of genre labels)",
        table(["embedding", "P@1", "P@5", "P@10"], [[k, v["p@1"], v["p@5"], v["p@10"]] for k, v in report["embedding"]["group_folds_single_label"].items()]),
    ]  # fmt: skip
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
