"""Sound scenes from numpy: beeps, chirps, noise bursts and clicks over background noise.

A scene is fully described by its meta (events with onset, duration, level and frequencies,
the SNR and a noise seed), so `render_sounds(meta)` always gives the same samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SOUND_KINDS: tuple[str, ...] = ("beep", "click", "noise burst", "rising chirp", "falling chirp")
PLURALS: dict[str, str] = {k: k + "s" for k in SOUND_KINDS}

LOUD_DBFS = -10.0
"""RMS level of a loud event (and the reference for the SNR), dB relative to full scale."""
SOFT_DBFS = -22.0
"""RMS level of a soft event: 12 dB below a loud one."""
LONG_S = 0.6
SHORT_S = 0.2
CLICK_S = 0.02
_RAMP_S = 0.01


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _envelope(n: int, sample_rate: int) -> np.ndarray:
    """Flat with 10 ms raised-cosine ramps: no clicks at the edges of tones."""
    ramp = min(int(_RAMP_S * sample_rate), n // 2)
    env = np.ones(n, dtype=np.float64)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        env[:ramp] = rise
        env[n - ramp :] = rise[::-1]
    return env


def _event_wave(event: dict[str, Any], sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = max(1, round(event["duration"] * sample_rate))
    t = np.arange(n) / sample_rate
    kind = event["kind"]
    if kind == "beep":
        wave = np.sin(2 * np.pi * event["freq_hz"] * t)
        wave = wave * _envelope(n, sample_rate)
    elif kind in ("rising chirp", "falling chirp"):
        # Exponential sweep: the pitch (log frequency) moves at a constant rate.
        f0, f1 = event["freq_hz"], event["end_freq_hz"]
        dur = n / sample_rate
        k = np.log(f1 / f0) / dur
        phase = 2 * np.pi * f0 * (np.expm1(k * t) / k)
        wave = np.sin(phase) * _envelope(n, sample_rate)
    elif kind == "noise burst":
        wave = rng.standard_normal(n) * _envelope(n, sample_rate)
    elif kind == "click":
        wave = rng.standard_normal(n) * np.exp(-t / 0.004)
    else:
        raise ValueError(f"unknown sound kind {kind!r}")
    rms = float(np.sqrt(np.mean(wave**2)))
    if kind == "click":
        # A click is heard by its peak, not its (tiny) average energy.
        return wave / float(np.max(np.abs(wave))) * db_to_amplitude(event["level_db"] + 9.0)
    return wave / rms * db_to_amplitude(event["level_db"])


def render_sounds(meta: dict[str, Any], sample_rate: int) -> np.ndarray:
    """The scene's samples: every event at its onset, plus white noise `snr_db` below a loud event."""
    n_total = round(meta["duration"] * sample_rate)
    rng = np.random.default_rng(meta["noise_seed"])
    audio = rng.standard_normal(n_total) * db_to_amplitude(LOUD_DBFS - meta["snr_db"])
    for event in meta["events"]:
        wave = _event_wave(event, sample_rate, rng)
        start = round(event["onset"] * sample_rate)
        end = min(n_total, start + len(wave))
        audio[start:end] += wave[: end - start]
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def make_event(
    kind: str, rng: np.random.Generator, *, duration: float | None = None, level_db: float | None = None
) -> dict[str, Any]:
    """One event of `kind` with random frequency, and a random duration and level unless given."""
    if kind == "click":
        duration = CLICK_S
    elif duration is None:
        duration = float(rng.uniform(0.2, 0.4))
    if level_db is None:
        level_db = float(rng.uniform(LOUD_DBFS - 6.0, LOUD_DBFS))
    event: dict[str, Any] = {"kind": kind, "duration": round(duration, 3), "level_db": round(level_db, 1)}
    if kind == "beep":
        event["freq_hz"] = int(rng.integers(500, 1500))
    elif kind == "rising chirp":
        low = int(rng.integers(400, 800))
        event["freq_hz"], event["end_freq_hz"] = low, low * int(rng.integers(2, 4))
    elif kind == "falling chirp":
        low = int(rng.integers(400, 800))
        event["freq_hz"], event["end_freq_hz"] = low * int(rng.integers(2, 4)), low
    return event


def place_events(events: list[dict[str, Any]], rng: np.random.Generator, max_seconds: float) -> float:
    """Give each event an onset (in order, with gaps of at least 0.2 s) and return the clip length.

    Gaps are drawn at random and shrunk towards 0.2 s if the scene would not fit `max_seconds`.
    """
    lead, tail = float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.1, 0.3))
    gaps = rng.uniform(0.2, 0.6, size=max(0, len(events) - 1))
    busy = sum(e["duration"] for e in events)
    spare = max_seconds - 0.02 - busy - lead - tail - 0.2 * len(gaps)
    extra = gaps - 0.2
    if spare < 0:
        raise ValueError(f"{len(events)} sound events of {busy:.2f} s do not fit in {max_seconds} s")
    if extra.sum() > spare:
        extra *= spare / extra.sum()
    t = lead
    for i, event in enumerate(events):
        event["onset"] = round(t, 3)
        t = event["onset"] + event["duration"]
        if i < len(gaps):
            t += 0.2 + float(extra[i])
    return round(t + tail, 3)
