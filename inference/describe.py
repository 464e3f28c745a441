"""Tempo, key, loudness and brightness, cheaply, from the spectrogram the models already need.

Everything here works on ``power = inference.frontend.stft_power(samples)``: [frames, 257] at
16 kHz, n_fft 512, hop 256 (62.5 frames per second). No second STFT is taken.

- tempo: onset strength (log band-energy flux), a windowed autocorrelation tempogram averaged over
  the track (lags at quarter-frame resolution), a log-normal prior around 120 BPM (as librosa's
  tempo estimator), a preference for the half period when it is as periodic (a pulse at p is
  periodic at 2p too), and a refinement over the first multiples of the period.
- key: a pitch-class profile from spectral peaks whose frequencies are refined by parabolic
  interpolation (31 Hz bins are too coarse to map whole bins to semitones below ~500 Hz), with
  HPCP-style subharmonic votes and tuning compensation, correlated with the Krumhansl-Kessler
  and Albrecht-Shanahan major/minor profiles in all 12 rotations.
- loudness: RMS in dBFS (a full-scale square wave is 0 dB, a full-scale sine -3 dB).
- brightness: the magnitude spectrum's centroid, averaged over frames weighted by energy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from inference.frontend import HOP, N_FFT, SAMPLE_RATE
from inference.result import Descriptors

FRAME_RATE = SAMPLE_RATE / HOP  # 62.5 frames per second
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Tempo
MIN_BPM, MAX_BPM = 40.0, 220.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0  # librosa's start_bpm and std_bpm
TEMPOGRAM_WINDOW = 512  # frames (8.2 s): several beats even at 40 BPM
TEMPOGRAM_HOP = 128
UPSAMPLE = 4  # tempogram lag resolution: a quarter frame (4 ms)
MIN_TEMPO_SECONDS = 4.0  # a few beats at least
# Tempo is None below max(MIN_TEMPO_CONFIDENCE, TEMPO_NOISE_SCALE / sqrt(frames)): the largest
# autocorrelation peak of white noise's onset envelope shrinks like 1 / sqrt(length).
MIN_TEMPO_CONFIDENCE = 0.1
TEMPO_NOISE_SCALE = 5.0
HALF_PERIOD_RATIO = 0.9  # prefer the half period when its peak is at least this high

# Key
CHROMA_FMIN, CHROMA_FMAX = 100.0, 5000.0
PEAK_RANGE_DB = 50.0  # spectral peaks further below a frame's loudest bin are ignored
SUBHARMONIC_WEIGHTS = (0.6, 0.36)  # a peak at f also votes for f/2 and f/3 (HPCP-style)
# Key profiles, tonic first: Krumhansl & Kessler (1982) probe-tone ratings and Albrecht &
# Shanahan (2013) corpus pitch-class frequencies. Their correlations are averaged: on our
# fixtures each alone misses one case that the average gets.
KEY_PROFILES = (
    (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    ),
    (
        np.array([.238, .006, .111, .006, .137, .094, .016, .214, .009, .080, .008, .081]),
        np.array([.220, .006, .104, .123, .019, .103, .012, .214, .062, .022, .061, .052]),
    ),
)  # fmt: skip
MIN_CHROMA_CONTRAST = 0.3  # std / mean of the chroma; noise stays far below
MIN_KEY_CORRELATION = 0.5  # a best match weaker than this: no key
KEY_MARGIN = 0.2  # a lead over the runner-up key this large gives full confidence

SILENCE_DB = -80.0  # quieter than this overall: nothing to describe
# Track-level averages (key, brightness) read at most this many evenly spaced frames (~32 s
# worth): plenty for a whole-track property, and it bounds the cost for long tracks.
SUMMARY_MAX_FRAMES = 2000


def describe(samples: np.ndarray, power: np.ndarray) -> Descriptors:
    """Descriptors of mono 16 kHz ``samples`` [n] whose power spectrogram is ``power`` [frames, 257].

    Tempo and key are None (confidence 0) for silence and for input without a steady beat or a
    tonal centre (noise, most speech).
    """
    x = np.asarray(samples, dtype=np.float32)
    p = np.asarray(power, dtype=np.float32)
    loudness = loudness_db(x)
    silent = loudness < SILENCE_DB or p.shape[0] == 0
    bpm, tempo_conf = (None, 0.0) if silent else estimate_tempo(p)
    key, mode, key_conf = (None, None, 0.0) if silent else estimate_key(p)
    return Descriptors(
        tempo_bpm=bpm,
        tempo_confidence=tempo_conf,
        key=key,
        mode=mode,
        key_confidence=key_conf,
        loudness_db=loudness,
        brightness_hz=0.0 if silent else brightness_hz(p),
        duration_s=x.size / SAMPLE_RATE,
    )


# ---------------------------------------------------------------------------------------------
# Loudness and brightness


def loudness_db(samples: np.ndarray) -> float:
    """RMS level of ``samples`` [n] in dBFS, floored at -120 dB."""
    if samples.size == 0:
        return -120.0
    x = samples.astype(np.float32, copy=False)
    # einsum: one pass, no temporary, and no BLAS threads (which thrash on a busy machine).
    mean_square = float(np.einsum("i,i->", x, x, dtype=np.float64)) / x.size
    return max(-120.0, 10.0 * np.log10(mean_square + 1e-12))


def brightness_hz(power: np.ndarray) -> float:
    """Mean spectral centroid, [frames, 257] -> Hz (0 for silence).

    Per frame, the centroid of the magnitude spectrum (as librosa's spectral_centroid; the power
    spectrum's centroid is dragged down to the bass); frames are averaged with their energy as
    weight, so silences and fades do not count. DC is ignored. Long tracks use evenly spaced
    frames (SUMMARY_MAX_FRAMES).
    """
    p = _evenly_spaced(power)[:, 1:]
    energy = p.sum(axis=1)
    total = float(energy.sum())
    if total <= 0:
        return 0.0
    mag = np.sqrt(p)
    mag_sum = mag.sum(axis=1)
    centroid = (mag * _bin_freqs()[1:]).sum(axis=1) / np.maximum(mag_sum, 1e-20)
    return float(np.dot(energy, centroid) / total)


def _evenly_spaced(power: np.ndarray) -> np.ndarray:
    """At most SUMMARY_MAX_FRAMES frames of ``power``, evenly spaced (a strided view)."""
    return power[:: max(1, -(-power.shape[0] // SUMMARY_MAX_FRAMES))]  # ceil division


@lru_cache(maxsize=1)
def _bin_freqs() -> np.ndarray:
    return np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)


# ---------------------------------------------------------------------------------------------
# Tempo


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


def estimate_tempo(power: np.ndarray) -> tuple[float | None, float]:
    """(BPM in [40, 220] or None, confidence in [0, 1]) from a [frames, 257] power spectrogram.

    The confidence is the normalised autocorrelation at the beat period: near 1 for a click
    track, 0.2-0.6 for most music, near 0 for noise. Below a noise floor that shrinks with the
    track's length the tempo is None.
    """
    onset = _smooth(onset_strength(power))
    if onset.size < MIN_TEMPO_SECONDS * FRAME_RATE:
        return None, 0.0
    acf = tempogram(onset)
    max_lag = int(0.6 * acf.size)  # longer lags rest on too little overlap
    lo = int(np.floor(UPSAMPLE * FRAME_RATE * 60 / MAX_BPM))
    hi = min(int(np.ceil(UPSAMPLE * FRAME_RATE * 60 / MIN_BPM)), max_lag - 1)
    if hi <= lo + 2:
        return None, 0.0
    best = _best_lag(acf, lo, hi)
    if best is None:
        return None, 0.0
    confidence = float(np.clip(acf[best], 0.0, 1.0))
    noise_floor = max(MIN_TEMPO_CONFIDENCE, TEMPO_NOISE_SCALE / np.sqrt(onset.size))
    if confidence < noise_floor:
        return None, round(confidence, 3)
    tempo = 60 * FRAME_RATE * UPSAMPLE / _refine_period(acf, best, max_lag)
    return round(float(np.clip(tempo, MIN_BPM, MAX_BPM)), 2), round(confidence, 3)


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


# ---------------------------------------------------------------------------------------------
# Key


def spectral_peaks(power: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima of each frame's spectrum between CHROMA_FMIN and CHROMA_FMAX, within
    PEAK_RANGE_DB of the frame's loudest bin: (frame index, frequency in Hz, power), each [n].

    The frequency is refined by a parabola through the log power of the peak bin and its two
    neighbours: with a Hann window that is accurate to a few hundredths of a bin, so a 31 Hz bin
    grid still places a partial within a few cents. (Mapping whole bins to pitch classes cannot:
    below ~500 Hz one bin spans several semitones.)
    """
    df = SAMPLE_RATE / N_FFT
    k_lo = max(2, int(CHROMA_FMIN / df))
    k_hi = min(power.shape[1] - 2, int(np.ceil(CHROMA_FMAX / df)))
    mid = power[:, k_lo : k_hi + 1]
    floor = power.max(axis=1, keepdims=True) * 10 ** (-PEAK_RANGE_DB / 10)
    mask = (
        (mid > power[:, k_lo - 1 : k_hi]) & (mid >= power[:, k_lo + 1 : k_hi + 2]) & (mid > floor)
    )
    t, k = np.nonzero(mask)
    k = k + k_lo
    a, b, c = (np.log(power[t, k + d].astype(np.float64) + 1e-30) for d in (-1, 0, 1))
    denom = np.minimum(a - 2 * b + c, -1e-12)  # a peak bin: the parabola opens downward
    delta = np.clip(0.5 * (a - c) / denom, -0.5, 0.5)
    freq = (k + delta) * df
    peak_power = np.exp(b - 0.25 * (a - c) * delta)
    keep = (freq >= CHROMA_FMIN) & (freq <= CHROMA_FMAX)
    return t[keep], freq[keep], peak_power[keep]


def chroma(power: np.ndarray) -> np.ndarray:
    """Track-level pitch-class profile [12] (C = 0) from spectral peaks, summing to 1 (zeros
    when nothing is pitched).

    Each peak votes for its pitch class with its magnitude, and more weakly for the class of
    f/3 (it may be the third partial of a lower note; f/2 is the same class), as in HPCP. Votes
    are normalised per frame so quiet and loud passages count alike; frames 40 dB below the
    loudest are left out. The tuning (A4 = 440 Hz +- half a semitone) is estimated from the
    peaks and compensated. Long tracks use evenly spaced frames (SUMMARY_MAX_FRAMES).
    """
    if power.shape[0] == 0:
        return np.zeros(12)
    power = _evenly_spaced(power)
    frame_energy = power.sum(axis=1)
    t, freq, peak_power = spectral_peaks(power)
    loud = frame_energy[t] > frame_energy.max() * 1e-4
    t, freq, peak_power = t[loud], freq[loud], peak_power[loud]
    if t.size == 0:
        return np.zeros(12)
    weight = np.sqrt(peak_power)
    weight /= np.bincount(t, weights=weight, minlength=power.shape[0])[t]
    pitch = 12 * np.log2(freq / 440.0) + 9  # semitones above C (A = 9)
    pitch -= _tuning(pitch, weight)
    hist = np.bincount(np.round(pitch).astype(np.int64) % 12, weights=weight, minlength=12)
    # f/2 is the same class; f/3 is 19 semitones (7 mod 12) below.
    out = (1.0 + SUBHARMONIC_WEIGHTS[0]) * hist + SUBHARMONIC_WEIGHTS[1] * np.roll(hist, -7)
    return out / out.sum()


def _tuning(pitch: np.ndarray, weight: np.ndarray) -> float:
    """Deviation of the recording's tuning from A440, in semitones (-0.5..0.5): the weighted
    circular mean of the peaks' distances to the nearest semitone (from a 50-bin histogram,
    cheaper than a complex exponential per peak)."""
    bins = (np.mod(pitch, 1.0) * 50).astype(np.int64) % 50
    hist = np.bincount(bins, weights=weight, minlength=50)
    phase = np.exp(2j * np.pi * (np.arange(50) + 0.5) / 50)
    return float(np.angle(np.dot(hist, phase)) / (2 * np.pi))


def estimate_key(power: np.ndarray) -> tuple[str | None, str | None, float]:
    """(pitch class, "major" | "minor", confidence in [0, 1]) or (None, None, 0).

    The confidence is the best correlation scaled down when the runner-up key is close (the
    margin; a margin of KEY_MARGIN or more counts fully) and when the chroma is nearly flat.
    """
    c = chroma(power)
    contrast = float(c.std() / c.mean()) if c.sum() > 0 else 0.0
    if contrast < MIN_CHROMA_CONTRAST:
        return None, None, 0.0  # unpitched: noise, drums, silence
    scores = key_correlations(c)  # [2, 12]: major, minor x tonic
    order = np.argsort(scores, axis=None)[::-1]
    best, second = float(scores.flat[order[0]]), float(scores.flat[order[1]])
    if best < MIN_KEY_CORRELATION:
        return None, None, 0.0
    mode_idx, tonic = divmod(int(order[0]), 12)
    margin = min(1.0, (best - second) / KEY_MARGIN)
    tonal = min(1.0, contrast / (2 * MIN_CHROMA_CONTRAST))
    confidence = float(np.clip(best, 0.0, 1.0)) * margin * tonal
    return PITCH_CLASSES[tonic], ("major", "minor")[mode_idx], round(confidence, 3)


@lru_cache(maxsize=1)
def _key_templates() -> np.ndarray:
    """[profiles, 2 modes, 12 tonics, 12] zero-mean, unit-norm rotated key profiles."""
    out = np.zeros((len(KEY_PROFILES), 2, 12, 12))
    for i, profiles in enumerate(KEY_PROFILES):
        for m, profile in enumerate(profiles):
            rot = np.stack([np.roll(profile, t) for t in range(12)])
            rot -= rot.mean(axis=1, keepdims=True)
            out[i, m] = rot / np.linalg.norm(rot, axis=1, keepdims=True)
    return out


def key_correlations(chroma_vector: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``chroma_vector`` [12] with the major and minor profile of each
    tonic, averaged over KEY_PROFILES: [2, 12]."""
    c = chroma_vector - chroma_vector.mean()
    norm = np.linalg.norm(c)
    if norm == 0:
        return np.zeros((2, 12))
    return (_key_templates() @ (c / norm)).mean(axis=0)
