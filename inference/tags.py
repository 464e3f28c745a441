"""Mood, era, vocal and instrument tags from the two tag heads' track-level probabilities."""

from __future__ import annotations

import numpy as np

# group -> display tag -> [(tag set, tag)]; a display tag takes its strongest source tag.
TAG_GROUPS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "mood": {
        "beautiful": [("msd", "beautiful")], "chill": [("msd", "chill"), ("msd", "chillout")],
        "mellow": [("msd", "Mellow")], "sad": [("msd", "sad")], "happy": [("msd", "happy")],
        "sexy": [("msd", "sexy")], "catchy": [("msd", "catchy")], "party": [("msd", "party")],
        "easy listening": [("msd", "easy listening")], "slow": [("mtt", "slow")],
        "fast": [("mtt", "fast")], "soft": [("mtt", "soft"), ("mtt", "quiet")],
        "loud": [("mtt", "loud")], "weird": [("mtt", "weird"), ("msd", "experimental")],
        "ambient": [("msd", "ambient"), ("mtt", "ambient")],
    },
    "era": {
        "60s": [("msd", "60s")], "70s": [("msd", "70s")], "80s": [("msd", "80s")],
        "90s": [("msd", "90s")], "00s": [("msd", "00s")], "oldies": [("msd", "oldies")],
    },
    "vocals": {
        "female vocals": [
            ("msd", "female vocalists"), ("msd", "female vocalist"), ("mtt", "female"),
            ("mtt", "female vocal"), ("mtt", "female voice"), ("mtt", "woman"),
        ],
        "male vocals": [
            ("msd", "male vocalists"), ("mtt", "male"), ("mtt", "male vocal"),
            ("mtt", "male voice"), ("mtt", "man"),
        ],
        "instrumental": [("msd", "instrumental"), ("mtt", "no vocals"), ("mtt", "no vocal"), ("mtt", "no voice")],
        "choir": [("mtt", "choir"), ("mtt", "choral")],
    },
    "instruments": {
        "guitar": [("msd", "guitar"), ("mtt", "guitar")], "piano": [("mtt", "piano")],
        "strings": [("mtt", "strings")], "violin": [("mtt", "violin")], "cello": [("mtt", "cello")],
        "drums": [("mtt", "drums")], "beats": [("mtt", "beats"), ("mtt", "beat")],
        "synth": [("mtt", "synth")], "flute": [("mtt", "flute")], "harp": [("mtt", "harp")],
        "harpsichord": [("mtt", "harpsichord")], "sitar": [("mtt", "sitar")],
    },
}  # fmt: skip


def group_tags(msd: np.ndarray, mtt: np.ndarray, msd_labels: list[str], mtt_labels: list[str]) -> dict[str, dict[str, float]]:
    """Track-level probabilities [50], [50] -> {group: {tag: probability}} sorted, strongest first."""
    value = {"msd": dict(zip(msd_labels, map(float, msd), strict=True)), "mtt": dict(zip(mtt_labels, map(float, mtt), strict=True))}
    out: dict[str, dict[str, float]] = {}
    for group, tags in TAG_GROUPS.items():
        scores = {name: max(value[src][tag] for src, tag in sources) for name, sources in tags.items()}
        out[group] = {k: round(v, 3) for k, v in sorted(scores.items(), key=lambda kv: -kv[1])}
    return out
