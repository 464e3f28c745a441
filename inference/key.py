"""Key estimation: a pitch-resolving chroma with tuning estimation, matched to key profiles.

The 512-point spectrogram the models use has 31 Hz bins: a semitone is narrower than one bin below
~500 Hz, where the bass and most chord tones live. So the key gets its own spectrogram: the
16 kHz samples resampled to 4 kHz (nothing above 2 kHz is needed) and a 1024-point STFT (3.9 Hz
bins, 0.256 s window, 64 ms hop), a few percent of the analysis' cost.

1. Spectral peaks between 55 Hz and 1.9 kHz, their frequency refined by a parabola through the
   log magnitude (a few cents of accuracy), each weighted by its log-compressed magnitude.
2. Tuning: the weighted circular mean of the peaks' offsets from the equal-tempered grid.
3. Pitch-class profile (after HPCP, Gómez 2006): each peak votes for its pitch class with a cos²
   window one semitone wide; per frame a small share of each class is taken off the classes its
   3rd and 5th harmonics fall on (a fifth and a major third up: otherwise every note also
   strengthens its dominant), the profile is scaled to a maximum of 1 and weak classes dropped;
   then frames are averaged.
4. Key: Pearson correlation with the EDMA major and minor profiles (Faraldo et al. 2016) of each
   tonic.
5. Confidence: a calibrated probability that the key is exactly right, from the best
   correlation and its lead over the runner-up (KEY_CALIBRATION); below MIN_CONFIDENCE the
   estimate abstains ("no clear key").

Every choice here was measured on tests/bench/bench_keytempo.py (rendered songs, real GTZAN
excerpts, fixtures; the devset was never used to choose): window length, sample rate, peak
weighting, adding or removing overtone votes, the profiles (Krumhansl-Kessler, Temperley,
Albrecht-Shanahan, Shaath, EDMA), a separate bass profile and harmonic/percussive separation
(the last two did not help and are not used); the issue-8 note has the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr

from inference.keys import Key

SAMPLE_RATE = 16000  # what describe() receives
KEY_RATE = 4000  # resampled to this first: everything above FMAX is of no use here
N_FFT = 1024
HOP = 256
FMIN, FMAX = 55.0, 1900.0  # A1 .. A#6 (KEY_RATE / 2 with a margin for the resampler)
PEAK_RANGE_DB = 50.0  # peaks further below a frame's loudest are ignored
LOG_GAIN = 10.0  # peak weight log(1 + LOG_GAIN * magnitude / frame max)
OVERTONE_WEIGHTS = (0.15, 0.05)  # share of a class credited to its 3rd / 5th harmonic, removed
FRAME_THRESHOLD = 0.2  # per frame, pitch classes under this share of the strongest are dropped
MAX_FRAMES = 1200  # long tracks: at most this many evenly spaced frames (77 s worth)
MIN_FRAMES = 3
TUNING_BINS = 50

# Key profiles, tonic first: Krumhansl & Kessler (1982) probe-tone ratings; Temperley (2001,
# Kostka-Payne corpus); Albrecht & Shanahan (2013, corpus frequencies); Faraldo et al. (2016,
# "EDMA", fitted to electronic dance music), which measured best overall (Shaath's and
# Krumhansl's were close; Temperley's and Albrecht's clearly behind).
KEY_PROFILES = {
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "temperley": (
        (5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0),
        (5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0),
    ),
    "albrecht": (
        (.238, .006, .111, .006, .137, .094, .016, .214, .009, .080, .008, .081),
        (.220, .006, .104, .123, .019, .103, .012, .214, .062, .022, .061, .052),
    ),
    "edma": (
        (.1652, .0475, .0829, .0669, .0999, .0927, .0529, .1316, .0522, .0744, .0694, .0643),
        (.1724, .0534, .0761, .1004, .0562, .0853, .0498, .1345, .0746, .0500, .0919, .0555),
    ),
}  # fmt: skip
PROFILE = "edma"
MIN_CONTRAST = 0.05  # chroma std / mean below this: nothing tonal at all
MIN_CONFIDENCE = 0.12  # abstain below this calibrated probability of being exactly right:
# most noise and drums-alone fall under it, 3 % of the benchmark's music clips (short excerpts)


@dataclass(frozen=True)
class KeyEstimate:
    key: Key | None
    confidence: float  # calibrated probability that ``key`` is exactly right
    scores: np.ndarray  # [2, 12] profile correlations: major, minor x tonic
    chroma: np.ndarray  # [12] the track's pitch-class profile, C first


# ---------------------------------------------------------------------------------------------
# Spectrogram


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def magnitude_spectrogram(samples: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """[frames, bins] magnitude up to FMAX (plus 2 guard bins) of 16 kHz ``samples`` [n].

    Frames start every HOP samples (centred, zero-padded at the edges); a long input keeps at
    most ``max_frames`` frames, evenly spaced. Empty when the input is shorter than a hop.
    """
    x = np.asarray(samples, dtype=np.float32)
    if KEY_RATE != SAMPLE_RATE and x.size:
        x = soxr.resample(x, SAMPLE_RATE, KEY_RATE).astype(np.float32, copy=False)
    if x.size < HOP:
        return np.zeros((0, _top_bin() + 1), dtype=np.float32)
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2))
    starts = np.arange(0, x.size, HOP)
    if starts.size > max_frames:
        starts = starts[np.linspace(0, starts.size - 1, max_frames).astype(int)]
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[starts]
    spec = np.fft.rfft(frames * _window(), axis=1)[:, : _top_bin() + 1]
    return np.abs(spec).astype(np.float32)


@lru_cache(maxsize=1)
def _top_bin() -> int:
    return min(N_FFT // 2 - 1, int(np.ceil(FMAX * N_FFT / KEY_RATE)) + 2)


# ---------------------------------------------------------------------------------------------
# Peaks, tuning, chroma


def spectral_peaks(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima of each frame between FMIN and FMAX within PEAK_RANGE_DB of the frame's
    loudest: (frame index, pitch as a fractional MIDI number, magnitude), each [n].
    Positions are refined by a parabola through the log magnitudes of the peak and neighbours."""
    df = KEY_RATE / N_FFT
    k_lo = max(2, int(FMIN / df))
    k_hi = mag.shape[1] - 2
    mid = mag[:, k_lo : k_hi + 1]
    floor = mag.max(axis=1, keepdims=True) * 10 ** (-PEAK_RANGE_DB / 20)
    is_peak = (mid > mag[:, k_lo - 1 : k_hi]) & (mid >= mag[:, k_lo + 1 : k_hi + 2]) & (mid > floor)
    t, k = np.nonzero(is_peak)
    k = k + k_lo
    a, b, c = (np.log(mag[t, k + d].astype(np.float64) + 1e-12) for d in (-1, 0, 1))
    denom = np.minimum(a - 2 * b + c, -1e-12)
    delta = np.clip(0.5 * (a - c) / denom, -0.5, 0.5)
    freq = (k + delta) * df
    amp = np.exp(b - 0.25 * (a - c) * delta)
    keep = (freq >= FMIN) & (freq <= FMAX)
    midi = 69 + 12 * np.log2(freq[keep] / 440.0)
    return t[keep], midi, amp[keep]


def tuning_offset(midi: np.ndarray, weight: np.ndarray) -> float:
    """The recording's deviation from A440 in semitones (-0.5..0.5): the weighted circular mean
    of the peaks' offsets from the nearest equal-tempered pitch (from a 50-bin histogram of the
    offsets: cheaper than a complex exponential per peak)."""
    if midi.size == 0:
        return 0.0
    bins = (np.mod(midi, 1.0) * TUNING_BINS).astype(np.int64) % TUNING_BINS
    hist = np.bincount(bins, weights=weight, minlength=TUNING_BINS)
    return float(np.angle(np.dot(hist, _tuning_phasors())) / (2 * np.pi))


@lru_cache(maxsize=1)
def _tuning_phasors() -> np.ndarray:
    return np.exp(2j * np.pi * (np.arange(TUNING_BINS) + 0.5) / TUNING_BINS)


def chroma_profile(samples: np.ndarray) -> np.ndarray:
    """The track's pitch-class profile [12] of mono 16 kHz ``samples`` [n]: C first, summing to
    1 (zeros when nothing is pitched)."""
    mag = magnitude_spectrogram(samples)
    if mag.shape[0] < MIN_FRAMES:
        return np.zeros(12)
    t, midi, amp = spectral_peaks(mag)
    frame_max = mag.max(axis=1)
    loud = frame_max[t] > frame_max.max() * 1e-3  # frames 60 dB down are silence
    t, midi, amp = t[loud], midi[loud], amp[loud]
    if t.size == 0:
        return np.zeros(12)
    weight = np.log1p(LOG_GAIN * amp / frame_max[t])
    midi = midi - tuning_offset(midi, weight)
    votes = _pitch_class_votes(t, midi, weight, mag.shape[0])
    total = votes.sum()
    return votes / total if total > 0 else votes


def _pitch_class_votes(t: np.ndarray, midi: np.ndarray, weight: np.ndarray, frames: int) -> np.ndarray:
    """[12] votes: each peak spreads its weight over the two nearest pitch classes with a cos²
    window one semitone wide. Per frame, the overtones a class implies (its 3rd harmonic a fifth
    above, its 5th a major third above) are subtracted, the profile is scaled to a maximum of 1
    and classes under FRAME_THRESHOLD of it are dropped (every frame counts alike and stray
    partials do not); then frames are summed."""
    if t.size == 0:
        return np.zeros(12)
    lower = np.floor(midi)
    frac = midi - lower
    w_low = np.cos(0.5 * np.pi * frac) ** 2
    pcs = lower.astype(np.int64) % 12
    cells = t * 12
    rows = np.bincount(cells + pcs, weights=weight * w_low, minlength=frames * 12)
    rows += np.bincount(cells + (pcs + 1) % 12, weights=weight * (1 - w_low), minlength=frames * 12)
    rows = rows.reshape(frames, 12)
    # Overtones: a note's 3rd and 5th harmonics land a fifth and a major third above it.
    third, fifth = OVERTONE_WEIGHTS
    rows = np.maximum(rows - third * np.roll(rows, 7, axis=1) - fifth * np.roll(rows, 4, axis=1), 0.0)
    peak = rows.max(axis=1, keepdims=True)
    rows = np.where(peak > 0, rows / np.maximum(peak, 1e-12), 0.0)
    rows[rows < FRAME_THRESHOLD] = 0.0
    return rows.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# Key


@lru_cache(maxsize=8)
def key_templates(profile: str = PROFILE) -> np.ndarray:
    """[2 modes, 12 tonics, 12] zero-mean, unit-norm rotations of a major/minor profile pair."""
    out = np.zeros((2, 12, 12))
    for m, p in enumerate(KEY_PROFILES[profile]):
        rot = np.stack([np.roll(np.asarray(p, dtype=np.float64), t) for t in range(12)])
        rot -= rot.mean(axis=1, keepdims=True)
        out[m] = rot / np.linalg.norm(rot, axis=1, keepdims=True)
    return out


def key_scores(chroma: np.ndarray, profile: str = PROFILE) -> np.ndarray:
    """Pearson correlation of ``chroma`` [12] with each key's profile: [2, 12] (major, minor)."""
    c = np.asarray(chroma, dtype=np.float64) - np.mean(chroma)
    norm = np.linalg.norm(c)
    return np.zeros((2, 12)) if norm == 0 else key_templates(profile) @ (c / norm)


def estimate_key(samples: np.ndarray) -> KeyEstimate:
    """The key of mono 16 kHz ``samples`` [n] and the calibrated probability that it is exactly
    right; ``key`` is None for unpitched input (noise, drums, silence) and when that probability
    is below MIN_CONFIDENCE."""
    chroma = chroma_profile(samples)
    scores = key_scores(chroma)
    contrast = float(chroma.std() / chroma.mean()) if chroma.sum() > 0 else 0.0
    if contrast < MIN_CONTRAST:
        return KeyEstimate(None, 0.0, scores, chroma)
    top, best, lead = top_key(scores)
    confidence = key_confidence(best, lead)
    key = top if confidence >= MIN_CONFIDENCE else None
    return KeyEstimate(key, round(confidence, 3), scores, chroma)


def top_key(scores: np.ndarray) -> tuple[Key, float, float]:
    """The best-scoring key of ``scores`` [2, 12] (major, minor), its score, and its lead over
    the runner-up (the two inputs of the key confidence)."""
    order = np.argsort(scores, axis=None)[::-1]
    best, second = float(scores.flat[order[0]]), float(scores.flat[order[1]])
    mode, tonic = divmod(int(order[0]), 12)
    return Key(tonic, bool(mode)), best, best - second


# P(key exactly right) = logistic(b0 + b1 * best correlation + b2 * lead over the runner-up),
# fitted by tests/bench/fit_key_confidence.py on the rendered songs, the GTZAN excerpts and 40
# generated inputs with no key (noise, drums alone); in 5-fold cross-validation predicted
# 0.13 / 0.29 / 0.50 / 0.70 / 0.82 came true 0.16 / 0.27 / 0.48 / 0.72 / 0.91 of the time
# (456 clips).
KEY_CALIBRATION = (-3.47, 4.01, 4.73)


def key_confidence(best: float, lead: float) -> float:
    b0, b_best, b_lead = KEY_CALIBRATION
    return float(1.0 / (1.0 + np.exp(-(b0 + b_best * best + b_lead * lead))))
