"""Descriptors measured from the signal: duration, loudness, pitch median and trend, onsets.

- loudness: RMS over the whole clip in dB re full scale (20 log10 rms).
- pitch: per 40 ms frame (10 ms hop) of the frames within 30 dB of the loudest, the lag of the
  highest normalised autocorrelation peak between 60 and 2000 Hz, kept when that peak is above 0.5
  (voiced or tonal); the median over kept frames, and the trend as the slope of a straight line
  through log2(f0) over time, called rising / falling above +-2 semitones over the clip.
- onsets: the 10 ms RMS envelope in dB; an onset is where it crosses up through a threshold
  halfway (in dB) between the noise floor (10th percentile) and the peak, at least 60 ms after
  the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.04
HOP_S = 0.01
MIN_F0, MAX_F0 = 60.0, 2000.0
TREND_SEMITONES = 2.0
MIN_ONSET_GAP_S = 0.06


@dataclass(frozen=True)
class Descriptors:
    duration_s: float
    rms_db: float
    pitch_median_hz: float | None
    pitch_trend: str | None  # rising | falling | flat
    onsets_s: list[float]

    def text(self) -> str:
        parts = [f"{self.duration_s:.1f} s long", f"loudness {self.rms_db:.1f} dB RMS"]
        if self.pitch_median_hz is not None:
            parts.append(f"median pitch {self.pitch_median_hz:.0f} Hz, pitch {self.pitch_trend}")
        else:
            parts.append("no clear pitch")
        times = ", ".join(f"{t:.2f}" for t in self.onsets_s)
        count = len(self.onsets_s)
        parts.append(f"{count} onset{'s' if count != 1 else ''}" + (f" at {times} s" if count else ""))
        return "Measured: " + "; ".join(parts) + "."


def _frames(signal: np.ndarray, size: int, hop: int) -> np.ndarray:
    if signal.size < size:
        signal = np.pad(signal, (0, size - signal.size))
    count = 1 + (signal.size - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    return signal[index]


def _db(value: np.ndarray | float) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(value, 1e-10))


def rms_db(signal: np.ndarray) -> float:
    return float(_db(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))))


def pitch_track(signal: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(times s, f0 Hz) of the frames with a clear periodicity."""
    size, hop = int(FRAME_S * rate), int(HOP_S * rate)
    frames = _frames(signal, size, hop)
    energy = _db(np.sqrt(np.mean(frames**2, axis=1)))
    loud = energy > energy.max() - 30.0
    lo, hi = int(rate / MAX_F0), min(int(rate / MIN_F0), size - 1)
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames * np.hanning(size), n=2 * size, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :size]
    autocorr = autocorr / np.maximum(autocorr[:, :1], 1e-12)
    lags = lo + np.argmax(autocorr[:, lo:hi], axis=1)
    strength = autocorr[np.arange(len(lags)), lags]
    keep = loud & (strength > 0.5)
    times = (np.arange(len(lags)) * hop + size / 2) / rate
    return times[keep], rate / lags[keep].astype(np.float64)


def onset_times(signal: np.ndarray, rate: int) -> list[float]:
    hop = int(HOP_S * rate)
    envelope = _db(np.sqrt(np.mean(_frames(signal, hop, hop) ** 2, axis=1)))
    floor, peak = np.percentile(envelope, 10), envelope.max()
    if peak - floor < 6.0:
        return []
    threshold = (floor + peak) / 2
    above = envelope > threshold
    rises = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    if above[0]:
        rises = np.concatenate([[0], rises])
    onsets: list[float] = []
    for index in rises:
        t = index * HOP_S
        if not onsets or t - onsets[-1] >= MIN_ONSET_GAP_S:
            onsets.append(round(float(t), 2))
    return onsets


def describe_signal(signal: np.ndarray, rate: int) -> Descriptors:
    times, f0 = pitch_track(signal, rate)
    median = trend = None
    if f0.size >= 3:
        median = float(np.median(f0))
        slope = np.polyfit(times, np.log2(f0), 1)[0] if np.ptp(times) > 0 else 0.0
        change = 12.0 * slope * float(np.ptp(times))
        trend = "rising" if change > TREND_SEMITONES else "falling" if change < -TREND_SEMITONES else "flat"
    return Descriptors(signal.size / rate, rms_db(signal), median, trend, onset_times(signal, rate))
