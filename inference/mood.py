"""The mood vocabulary: the four quadrants of Russell's valence x arousal plane (the 4Q set's labels)."""

from __future__ import annotations

# In the mood head's class order (Q1..Q4).
QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
MOODS: tuple[str, ...] = ("happy/energetic", "tense/angry", "sad", "calm")
