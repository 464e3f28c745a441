"""Tempo from the 512-point power spectrogram the models already need ([frames, 257] at 16 kHz,
hop 256: 62.5 frames per second).

Onset strength (log band-energy flux) -> a windowed autocorrelation tempogram averaged over the
track (lags at quarter-frame resolution) -> the beat period: the strongest peak under a
log-normal prior around 120 BPM (as librosa's tempo estimator), halved while the half period is
(nearly) as periodic (a pulse at p is periodic at 2p too), refined over the first multiples of
the period.

Beat trackers and people disagree mostly by a factor of two (the metrical level), so the estimate
also weighs the half and double tempo against the chosen one: each octave candidate's evidence
is its autocorrelation peak times a listener's preference for tempi near 120 BPM (narrower than
the search prior: half an octave, after van Noorden & Moelants 1999), and their shares say how
sure the choice is. Where the runner-up has at least ALTERNATIVE_RATIO of the winner's
evidence, it is reported as the alternative ("182 BPM, or 91 half time").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from inference.frontend import HOP, N_FFT, SAMPLE_RATE

FRAME_RATE = SAMPLE_RATE / HOP  # 62.5 frames per second
MIN_BPM, MAX_BPM = 40.0, 220.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # librosa's start_bpm and std_bpm
TEMPOGRAM_WINDOW = 512  # frames (8.2 s): several beats even at 40 BPM
TEMPOGRAM_HOP = 128
UPSAMPLE = 4  # tempogram lag resolution: a quarter frame (4 ms)
MIN_TEMPO_SECONDS = 4.0  # a few beats at least
# Tempo is None below max(MIN_PERIODICITY, NOISE_SCALE / sqrt(frames)): the largest
# autocorrelation peak of white noise's onset envelope shrinks like 1 / sqrt(length).
MIN_PERIODICITY = 0.1
NOISE_SCALE = 5.0
HALF_PERIOD_RATIO = 0.9  # prefer the half period when its peak is at least this high
# The half/double tempo is named when its evidence is at least this share of the winner's
# (set on the benchmark's tempo sets: see the issue-8 note).
ALTERNATIVE_RATIO = 0.5
PREFERRED_OCTAVES = 0.5  # width of the listener's tempo preference around PRIOR_BPM
FULL_PERIODICITY = 0.5  # a periodicity this strong (or more) counts fully in the confidence


@dataclass(frozen=True)
class TempoEstimate:
    bpm: float | None  # None: no steady beat
    confidence: float  # 0..1: beat strength x the chosen octave's share of the evidence
    alternative_bpm: float | None = None  # the half or double tempo, when nearly as likely
    periodicity: float = 0.0  # normalised autocorrelation at the beat period


NO_TEMPO = TempoEstimate(None, 0.0)


def onset_strength(power: np.ndarray) -> np.ndarray:
    """Spectral flux of log band energies: [frames, 257] -> [frames] (>= 0).

    Bands are log-spaced groups of FFT bins (summing is much cheaper than a mel matrix product,
    and the envelope barely differs); levels in dB relative to the loudest band-frame, floored
    80 dB below it, so the result does not depend on the recording level.
    """
    bands = np.add.reduceat(power, _band_edges(), axis=1)
    floor = max(float(bands.max()) * 1e-8, 1e-20)
    level = np.log10(np.maximum(bands, floor))
    flux = np.maximum(np.diff(level, axis=0), 0.0).mean(axis=1)
    return np.concatenate([[0.0], flux]).astype(np.float32)


@lru_cache(maxsize=1)
def _band_edges() -> np.ndarray:
    """Start bins of ~36 log-spaced bands from 1 to 257 (DC left out)."""
    return np.unique(np.geomspace(1, N_FFT // 2 + 1, 40).astype(int))[:-1]


def tempogram(onset: np.ndarray) -> np.ndarray:
    """Mean normalised autocorrelation of the onset envelope over sliding windows.

    [frames] -> [win * UPSAMPLE]: entry i is the lag i / UPSAMPLE frames (band-limited
    interpolation from zero-padding the power spectrum, so a beat period between two whole
    frames still shows as one sharp peak). Entry 0 is 1; values near 0 mean no periodicity.
    Each window has its mean removed and is normalised by its energy, so loud passages do not
    dominate; the unbiased estimate (divided by the overlap) keeps long lags at full weight.
    """
    n = onset.size
    win = min(TEMPOGRAM_WINDOW, n)
    starts = range(0, max(n - win, 0) + 1, TEMPOGRAM_HOP)
    frames = np.stack([onset[s : s + win] for s in starts]).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(frames, nfft, axis=1)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, nfft * UPSAMPLE, axis=1)[:, : win * UPSAMPLE]
    energy = acf[:, 0]
    valid = energy > 1e-12 * max(float(energy.max()), 1e-300)
    if not valid.any():
        return np.zeros(win * UPSAMPLE)
    acf = acf[valid] / energy[valid, None]
    acf *= win / (win - np.arange(win * UPSAMPLE) / UPSAMPLE)  # unbiased
    return acf.mean(axis=0)


def estimate_tempo(power: np.ndarray) -> TempoEstimate:
    """The tempo of a [frames, 257] power spectrogram (BPM in [40, 220]), its confidence and,
    where the half or double tempo is nearly as likely, that alternative.

    Below a noise floor that shrinks with the track's length the tempo is None (confidence 0).
    """
    onset = _smooth(onset_strength(power))
    if onset.size < MIN_TEMPO_SECONDS * FRAME_RATE:
        return NO_TEMPO
    acf = tempogram(onset)
    max_lag = int(0.6 * acf.size)  # longer lags rest on too little overlap
    lo = int(np.floor(UPSAMPLE * FRAME_RATE * 60 / MAX_BPM))
    hi = min(int(np.ceil(UPSAMPLE * FRAME_RATE * 60 / MIN_BPM)), max_lag - 1)
    if hi <= lo + 2:
        return NO_TEMPO
    best = _best_lag(acf, lo, hi)
    if best is None:
        return NO_TEMPO
    periodicity = float(np.clip(acf[best], 0.0, 1.0))
    if periodicity < max(MIN_PERIODICITY, NOISE_SCALE / np.sqrt(onset.size)):
        return NO_TEMPO
    bpm = float(np.clip(_bpm(_refine_period(acf, best, max_lag)), MIN_BPM, MAX_BPM))
    share, factor = _octave_evidence(acf, best, lo, hi, max_lag)
    confidence = share * min(1.0, periodicity / FULL_PERIODICITY)
    alternative = None if factor is None else round(bpm * factor, 2)
    return TempoEstimate(round(bpm, 2), round(float(confidence), 3), alternative, round(periodicity, 3))


def _bpm(lag: float) -> float:
    return 60 * FRAME_RATE * UPSAMPLE / lag


def _preference(lag: float) -> float:
    return float(np.exp(-0.5 * (np.log2(_bpm(lag) / PRIOR_BPM) / PREFERRED_OCTAVES) ** 2))


def _octave_evidence(acf: np.ndarray, best: int, lo: int, hi: int, max_lag: int) -> tuple[float, float | None]:
    """(share of the chosen tempo in the evidence of {tempo, half, double}, the factor (0.5 or
    2) of the runner-up when its evidence is at least ALTERNATIVE_RATIO of the chosen one's,
    else None). The alternative's BPM is that factor times the refined tempo: where the pulse
    is steady the metrical levels are exact multiples, and the chosen period is the best pinned."""
    chosen = max(acf[best], 0.0) * _preference(best)
    candidates = []
    for factor in (0.5, 2.0):  # half tempo (twice the period), double tempo (half the period)
        lag = best / factor
        if not lo <= lag <= hi:
            continue
        i = _peak_near(acf, int(round(lag)), max(UPSAMPLE, int(0.06 * lag)), max_lag)
        if i is not None:
            candidates.append((max(acf[i], 0.0) * _preference(i), factor))
    total = chosen + sum(e for e, _ in candidates)
    share = chosen / total if total > 0 else 1.0
    if not candidates:
        return share, None
    evidence, factor = max(candidates)
    return share, (factor if chosen > 0 and evidence >= ALTERNATIVE_RATIO * chosen else None)


def _peak_near(acf: np.ndarray, guess: int, reach: int, max_lag: int) -> int | None:
    """The highest autocorrelation peak within ``reach`` of ``guess`` (a played pulse drifts a
    little: 6 % covers rubato), or None."""
    a, b = max(1, guess - reach), min(max_lag - 1, guess + reach + 1)
    if b <= a:
        return None
    i = a + int(np.argmax(acf[a:b]))
    return i if _is_peak(acf, i) else None


def _best_lag(acf: np.ndarray, lo: int, hi: int) -> int | None:
    """Index of the beat period in ``acf``: the autocorrelation weighted by a log-normal tempo
    prior, then halved while the half period is (nearly) as periodic. A pulse at period p is
    also periodic at 2p, so a near tie between p and 2p means the beat is p: without this, a
    steady 174 BPM would be reported as 87."""
    lags = np.arange(lo, hi + 1) / UPSAMPLE
    bpm = 60 * FRAME_RATE / lags
    log_prior = -0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2
    score = np.maximum(acf[lo : hi + 1], 0.0) * np.exp(log_prior)
    inner = acf[lo - 1 : hi + 2]
    is_peak = (inner[1:-1] >= inner[:-2]) & (inner[1:-1] >= inner[2:]) & (inner[1:-1] > 0)
    if not is_peak.any():
        return None
    best = lo + int(np.argmax(np.where(is_peak, score, -1.0)))  # only true peaks compete
    while True:
        half = best // 2
        if half < lo:
            return best
        near = slice(max(lo, half - UPSAMPLE), half + UPSAMPLE + 1)  # +-1 frame around it
        cand = near.start + int(np.argmax(acf[near]))
        if not (_is_peak(acf, cand) and acf[cand] >= HALF_PERIOD_RATIO * acf[best]):
            return best
        best = cand


def _smooth(x: np.ndarray) -> np.ndarray:
    """Gaussian smoothing (sigma 1 frame): rounder autocorrelation peaks for interpolation."""
    kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    return np.convolve(x, kernel / kernel.sum(), mode="same")


def _is_peak(y: np.ndarray, i: int) -> bool:
    return 0 < i < y.size - 1 and y[i] >= y[i - 1] and y[i] >= y[i + 1] and y[i] > 0


def _parabolic(y: np.ndarray, i: int) -> float:
    """Sub-sample position of the maximum near ``i`` from a parabola through 3 points."""
    a, b, c = y[i - 1], y[i], y[i + 1]
    denom = a - 2 * b + c
    return float(i) if denom >= 0 else i + 0.5 * (a - c) / denom


def _refine_period(acf: np.ndarray, lag: int, max_lag: int) -> float:
    """Beat period (in ``acf`` index units) from the peaks at 1, 2, 3, 4 times ``lag``: the
    k-th peak pins the period k times more precisely than the first (least squares through
    the origin)."""
    period = _parabolic(acf, lag)
    ks, peaks = [1], [period]
    for k in range(2, 5):
        guess = int(round(k * period))
        if guess + UPSAMPLE + 1 >= max_lag:
            break
        i = guess - UPSAMPLE + int(np.argmax(acf[guess - UPSAMPLE : guess + UPSAMPLE + 1]))
        if not _is_peak(acf, i) or acf[i] < 0.5 * acf[lag]:
            break  # the pulse does not continue (rubato, or a one-off): stop refining
        ks.append(k)
        peaks.append(_parabolic(acf, i))
        period = float(np.dot(ks, peaks) / np.dot(ks, ks))
    return period
