""""This doesn't sound like music": an energy gate for silence, then the AudioSet model's verdict.

- **Silence gate, per 3-second patch** (:func:`voting_patches`): a patch votes only if it is
  louder than ``SILENT_PATCH_DB`` (digital silence, room tone) and no more than ``QUIET_BELOW_DB``
  below the track's loud level (its 90th-percentile patch). Patches that do not vote are left out of
  the genres, the mood and the embedding; the timeline shows them as silence. A track with no
  voting patch is silence.
- **Music or not** (:class:`MusicDetector`) from EfficientAT's AudioSet probabilities of the
  voting patches. A patch's music evidence is the strongest of Music, Musical instrument,
  Singing, Choir, Rapping, A capella and the like (sung and rapped voices are music); its speech
  evidence the strongest speech class; its noise evidence the strongest of the animal, bird,
  noise and test-tone classes. A track is *not* music only when its mean music evidence stays
  below ``MUSIC_MAX`` and something else is clearly there: speech (mean at least ``SPEECH_MIN``
  over at least ``SPEECH_MIN_PATCHES`` patches, so a spoken intro or a 2-second spoken excerpt
  inside a song is not enough) or noise (at least ``NOISE_MIN``). Everything else is music.
  Thresholds were set on ../shared/data/train (not one of its 1,836 clips may be flagged), checked
  on the devset, the bundled speech and bird-call recordings and generated noise, hum and silence
  (models/MODEL_CARD.md, "Music or not").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENT_PATCH_DB = -60.0  # a patch quieter than this (RMS, dBFS) is silence
QUIET_BELOW_DB = 40.0  # ...and so is one this far below the track's loud level
MUSIC_MAX = 0.10  # mean music evidence below this, and one of these: not music
SPEECH_MIN = 0.40
SPEECH_MIN_PATCHES = 2  # about 6 s
NOISE_MIN = 0.20

MUSIC_CLASSES = (
    "Music", "Musical instrument", "Singing", "Choir", "Rapping", "A capella", "Vocal music",
    "Male singing", "Female singing", "Child singing", "Humming", "Beatboxing",
)  # fmt: skip
SPEECH_CLASSES = ("Speech", "Male speech, man speaking", "Female speech, woman speaking", "Conversation", "Narration, monologue")
NOISE_CLASSES = (
    "Animal", "Bird", "Bird vocalization, bird call, bird song", "Wild animals", "Noise",
    "White noise", "Pink noise", "Static", "Hum", "Mains hum", "Rumble", "Environmental noise",
    "Wind", "Rain", "Water", "Vehicle", "Silence", "Sine wave", "Chirp tone", "Beep, bleep",
    "Dial tone", "Busy signal", "Chirp, tweet",
)  # fmt: skip


@dataclass(frozen=True)
class Musicness:
    is_music: bool
    reason: str | None  # "silence" | "speech" | "noise"
    confidence: float  # how sure we are that it IS music, 0..1
    music: float  # mean music evidence of the voting patches
    speech: float
    noise: float


def voting_patches(level_db: np.ndarray) -> np.ndarray:
    """[N] patch levels (dBFS) -> [N] bool: the patches loud enough to count."""
    level_db = np.asarray(level_db, dtype=np.float64)
    if level_db.size == 0:
        return np.zeros(0, bool)
    loud = float(np.percentile(level_db, 90))
    return (level_db > SILENT_PATCH_DB) & (level_db > loud - QUIET_BELOW_DB)


class MusicDetector:
    """Column indices of the class families in the AudioSet label list."""

    def __init__(self, labels: list[str]) -> None:
        index = {name: i for i, name in enumerate(labels)}

        def cols(names: tuple[str, ...]) -> np.ndarray:
            return np.array([index[n] for n in names if n in index], dtype=np.int64)

        self.music, self.speech, self.noise = cols(MUSIC_CLASSES), cols(SPEECH_CLASSES), cols(NOISE_CLASSES)

    def evidence(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """[N, 527] -> per-patch (music, speech, noise) evidence, each [N]."""
        return probs[:, self.music].max(1), probs[:, self.speech].max(1), probs[:, self.noise].max(1)

    def assess(self, probs: np.ndarray) -> Musicness:
        """AudioSet probabilities of the voting patches [N, 527] -> Musicness (N = 0: silence)."""
        if len(probs) == 0:
            return Musicness(False, "silence", 0.0, 0.0, 0.0, 0.0)
        music, speech, noise = (float(v.mean()) for v in self.evidence(probs))
        reason = None
        if music < MUSIC_MAX:
            if speech >= noise and speech >= SPEECH_MIN and len(probs) >= SPEECH_MIN_PATCHES:
                reason = "speech"
            elif noise > speech and noise >= NOISE_MIN:
                reason = "noise"
        # How sure it is music: 0.5 at the threshold, 1 from three times it.
        confidence = float(np.clip(0.5 + 0.25 * (music - MUSIC_MAX) / MUSIC_MAX, 0.0, 1.0))
        return Musicness(reason is None, reason, round(confidence, 3), music, speech, noise)
