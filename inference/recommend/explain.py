"""Why a track was picked, in words: closeness to a like, and genre, tempo and key only when
they really match."""

from __future__ import annotations

from inference.keys import make_key, relation
from inference.recommend.catalog import TrackFeatures, key_of
from inference.recommend.config import DEFAULT_CONFIG, RecommendConfig

__all__ = ["describe", "explain", "key_relation"]


def key_relation(
    key_a: str | None, mode_a: str | None, key_b: str | None, mode_b: str | None
) -> str | None:
    """How two keys relate, in words, or None when they don't relate closely (or are unknown).

    Same key; relative major/minor (same notes, e.g. D minor / F major); a fifth apart (neighbours
    on the circle of fifths, same mode, e.g. C major / G major).
    """
    a, b = make_key(key_a, mode_a), make_key(key_b, mode_b)
    if a is None or b is None:
        return None
    rel = relation(a, b)
    if rel == "same":
        return f"same key {a.name}"
    if rel == "relative":
        return f"relative keys {a.name} / {b.name}"
    if rel == "fifth":
        return f"keys a fifth apart ({a.name} / {b.name})"
    return None


def _tempo_phrase(t_pick: float | None, t_liked: float | None, tol: float) -> str | None:
    if not t_pick or not t_liked or t_pick <= 0 or t_liked <= 0:
        return None
    a, b = round(t_pick), round(t_liked)
    if abs(t_pick - t_liked) <= tol * max(t_pick, t_liked):
        return f"both {a} BPM" if a == b else f"{a} vs {b} BPM"
    if abs(t_pick - 2 * t_liked) <= tol * t_pick:
        return f"{a} vs {b} BPM (double time)"
    if abs(2 * t_pick - t_liked) <= tol * t_liked:
        return f"{a} vs {b} BPM (half time)"
    return None


def _title(t: TrackFeatures, limit: int = 60) -> str:
    s = " ".join((t.title or "").split()) or f"track #{t.track_id}"
    return s if len(s) <= limit else s[: limit - 1] + "…"


def explain(
    pick: TrackFeatures,
    liked: TrackFeatures,
    similarity: float,
    *,
    who: str = "you",
    config: RecommendConfig = DEFAULT_CONFIG,
) -> str:
    """E.g. "close to 'Vibe Ace' you liked (0.91) · both jazz · 92 vs 90 BPM · same key F major".

    Genre, tempo and key are mentioned only when they really match.
    """
    if pick.track_id == liked.track_id:  # a party may play a member's own like
        owner = "your" if who == "you" else "their"
        return f"one of {owner} likes" + (f" · {pick.top_genre}" if pick.top_genre else "")
    parts = [f"close to '{_title(liked)}' {who} liked ({similarity:.2f})"]
    ga, gb = pick.top_genre, liked.top_genre
    if ga and ga == gb:
        parts.append(f"both {ga}")
    tempo = _tempo_phrase(pick.tempo_bpm, liked.tempo_bpm, config.tempo_close)
    if tempo:
        parts.append(tempo)
    sure = min(pick.key_confidence, liked.key_confidence) >= config.key_confidence_min
    key = key_relation(pick.key, pick.mode, liked.key, liked.mode) if sure else None
    if key:
        parts.append(key)
    return " · ".join(parts)


def describe(t: TrackFeatures, lead: str) -> str:
    parts = [lead]
    if t.top_genre:
        parts.append(t.top_genre)
    if t.tempo_bpm and t.tempo_bpm > 0:
        parts.append(f"{round(t.tempo_bpm)} BPM")
    key = key_of(t)
    if key is not None:
        parts.append(key.name)
    return " · ".join(parts)
