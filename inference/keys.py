"""Musical keys as musicians and DJs name them: spelling, relative key, Camelot code, distances.

Pure Python (no numpy), so the CLI, the bot's presenters, the recommender and the benchmarks all
read keys the same way. A key is a tonic pitch class (0 = C .. 11 = B) and a mode ("major" or
"minor"); the analysis stores the tonic as a sharp name ("A#") and this module spells it the
conventional way for display ("Bb major", "G# minor").

The Camelot wheel (Mark Davis's harmonic-mixing notation) numbers the circle of fifths 1-12 with
"B" for major and "A" for minor keys: a key mixes smoothly into the same number (its relative),
and into one number up or down (a fifth away). 8B is C major, 8A is A minor.
"""

from __future__ import annotations

from dataclasses import dataclass

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES = ("major", "minor")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# Conventional spellings: the side of the circle of fifths with fewer accidentals (F# major
# and D# minor, 6 sharps, are as common as their flat twins; we write F# major and Eb minor,
# as most DJ software and lead sheets do).
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
# Camelot numbers of the major keys, by tonic pitch class: C major is 8B, G major 9B, ...
_CAMELOT_MAJOR = tuple((8 + 7 * pc) % 12 or 12 for pc in range(12))


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11, C = 0
    minor: bool

    @property
    def mode(self) -> str:
        return "minor" if self.minor else "major"

    @property
    def name(self) -> str:
        """``"A minor"``, ``"Bb major"``: conventional spelling."""
        names = _MINOR_NAMES if self.minor else _MAJOR_NAMES
        return f"{names[self.tonic]} {self.mode}"

    @property
    def relative(self) -> Key:
        """The key with the same notes and the other mode: A minor <-> C major."""
        return Key((self.tonic + 3) % 12, False) if self.minor else Key((self.tonic - 3) % 12, True)

    @property
    def camelot(self) -> str:
        """Camelot code: ``"8A"`` for A minor, ``"8B"`` for C major."""
        major_tonic = self.relative.tonic if self.minor else self.tonic
        return f"{_CAMELOT_MAJOR[major_tonic]}{'A' if self.minor else 'B'}"

    @property
    def fifths_position(self) -> int:
        """Position on the circle of fifths (0..11, C major = 0); a minor key sits with its
        relative major."""
        major_tonic = self.relative.tonic if self.minor else self.tonic
        return (major_tonic * 7) % 12

    def display(self) -> str:
        """``"A minor · relative of C major · 8A"``."""
        return f"{self.name} · relative of {self.relative.name} · {self.camelot}"


def parse_pitch_class(name: str | None) -> int | None:
    """``"F#"`` -> 6, ``"Bb"`` -> 10, ``"c♯"`` -> 1; None for anything unparseable."""
    if not name:
        return None
    text = name.strip()
    if not text or text[0].upper() not in _LETTERS:
        return None
    pc = _LETTERS[text[0].upper()]
    for ch in text[1:]:
        if ch in "#♯":
            pc += 1
        elif ch in "b♭":
            pc -= 1
        else:
            break
    return pc % 12


def parse_mode(mode: str | None) -> bool | None:
    """True for minor, False for major, None when unknown."""
    if not mode:
        return None
    m = mode.strip().lower()
    if m.startswith("min") or m == "m":
        return True
    if m.startswith("maj"):
        return False
    return None


def make_key(tonic: str | None, mode: str | None) -> Key | None:
    """A Key from the analysis' ``key`` and ``mode`` fields, or None when either is missing."""
    pc, minor = parse_pitch_class(tonic), parse_mode(mode)
    return None if pc is None or minor is None else Key(pc, minor)


def parse_key(text: str | None) -> Key | None:
    """``"A minor"``, ``"Bb major"``, ``"F#m"``, ``"C"`` (major) -> Key; None when unparseable."""
    if not text or not text.strip():
        return None
    parts = text.split()
    if len(parts) >= 2:
        return make_key(parts[0], parts[1])
    token = parts[0]
    if len(token) > 1 and token.endswith("m"):
        return make_key(token[:-1], "minor")
    return make_key(token, "major")


def relation(a: Key, b: Key) -> str | None:
    """How two keys relate: "same", "relative", "fifth" (a fifth apart, same mode), "parallel"
    (same tonic, other mode), or None."""
    if a == b:
        return "same"
    if a.minor != b.minor and a.relative == b:
        return "relative"
    if a.minor == b.minor and (a.tonic - b.tonic) % 12 in (5, 7):
        return "fifth"
    if a.tonic == b.tonic:
        return "parallel"
    return None


def fifths_distance(a: Key, b: Key) -> int:
    """Steps between two keys on the circle of fifths (0..6; relatives are 0 apart)."""
    d = abs(a.fifths_position - b.fifths_position)
    return min(d, 12 - d)


def mirex_score(reference: Key, estimate: Key | None) -> float:
    """The MIREX key score of ``estimate`` against ``reference``: 1 for the same key, 0.5 for
    the key a perfect fifth above (same mode), 0.3 for the relative key, 0.2 for the parallel
    key, else 0 (and 0 for no estimate). As mir_eval.key.weighted_score with its defaults."""
    if estimate is None:
        return 0.0
    if estimate == reference:
        return 1.0
    if estimate.minor == reference.minor and (estimate.tonic - reference.tonic) % 12 == 7:
        return 0.5
    if estimate == reference.relative:
        return 0.3
    if estimate.tonic == reference.tonic:
        return 0.2
    return 0.0


def all_keys() -> list[Key]:
    """The 24 keys: C major .. B major, then C minor .. B minor."""
    return [Key(pc, minor) for minor in (False, True) for pc in range(12)]
