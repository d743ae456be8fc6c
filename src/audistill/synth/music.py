"""Music from numpy: notes with harmonics and an ADSR envelope; melodies and triads.

A piece is fully described by its meta (notes with MIDI number, onset and duration), so
`render_music(meta)` always gives the same samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NOTE_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_SCALE_STEPS: tuple[int, ...] = (0, 2, 4, 5, 7, 9, 11)
TEMPO_IOI_S: dict[str, float] = {"fast": 0.25, "slow": 0.6}
"""Time from one note's start to the next's, seconds, for each tempo."""
CONTOURS: tuple[str, ...] = ("rising", "falling", "rising then falling")
TRIAD_ROOTS: tuple[int, ...] = (60, 62, 64, 65, 67, 69)
TRIAD_INTERVALS: dict[str, tuple[int, int]] = {"major": (4, 3), "minor": (3, 4)}
"""Semitones from root to third and from third to fifth."""
ARPEGGIO_IOI_S = 0.45
CHORD_S = 1.0
NOTE_LEVEL = 0.25
_HARMONICS = (1.0, 0.5, 0.3, 0.15, 0.08)
_ATTACK_S, _DECAY_S, _SUSTAIN, _RELEASE_S = 0.01, 0.06, 0.6, 0.04


def note_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def midi_to_hz(midi: int) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12.0)


def adsr(n: int, sample_rate: int) -> np.ndarray:
    """Attack, decay to the sustain level, release to zero at the note's end."""
    a = max(1, int(_ATTACK_S * sample_rate))
    d = max(1, int(_DECAY_S * sample_rate))
    r = max(1, int(_RELEASE_S * sample_rate))
    s = max(0, n - a - d - r)
    env = np.concatenate(
        [
            np.linspace(0.0, 1.0, a, endpoint=False),
            np.linspace(1.0, _SUSTAIN, d, endpoint=False),
            np.full(s, _SUSTAIN),
            np.linspace(_SUSTAIN, 0.0, r),
        ]
    )
    return env[:n] if len(env) >= n else np.pad(env, (0, n - len(env)))


def note_wave(midi: int, duration: float, sample_rate: int) -> np.ndarray:
    n = max(1, round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = midi_to_hz(midi)
    wave = sum(
        amp * np.sin(2 * np.pi * f0 * (k + 1) * t)
        for k, amp in enumerate(_HARMONICS)
        if f0 * (k + 1) < sample_rate / 2
    )
    return np.asarray(wave) / sum(_HARMONICS) * adsr(n, sample_rate)


def render_music(meta: dict[str, Any], sample_rate: int) -> np.ndarray:
    audio = np.zeros(round(meta["duration"] * sample_rate))
    for note in meta["notes"]:
        wave = note_wave(note["midi"], note["duration"], sample_rate) * NOTE_LEVEL
        start = round(note["onset"] * sample_rate)
        end = min(len(audio), start + len(wave))
        audio[start:end] += wave[: end - start]
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def _scale_notes(low: int = 55, high: int = 91) -> list[int]:
    return [m for m in range(low, high + 1) if (m - 60) % 12 in MAJOR_SCALE_STEPS]


def melody_pitches(contour: str, n: int, peak: int, rng: np.random.Generator) -> list[int]:
    """n MIDI pitches from the C major scale following `contour`; for "rising then falling" the
    single highest note is note number `peak` (1-based). Steps are 1 to 3 scale degrees."""
    scale = _scale_notes()
    steps = rng.integers(1, 4, size=n - 1)
    if contour == "rising":
        signs = np.ones(n - 1, dtype=int)
    elif contour == "falling":
        signs = -np.ones(n - 1, dtype=int)
    elif contour == "rising then falling":
        signs = np.array([1] * (peak - 1) + [-1] * (n - peak))
    else:
        raise ValueError(f"unknown contour {contour!r}")
    moves = np.concatenate([[0], np.cumsum(steps * signs)])
    start = int(rng.integers(-moves.min(), len(scale) - moves.max()))
    return [scale[start + int(m)] for m in moves]


def melody_meta(contour: str, n: int, peak: int, tempo: str, rng: np.random.Generator) -> dict[str, Any]:
    ioi = TEMPO_IOI_S[tempo]
    lead = round(float(rng.uniform(0.1, 0.3)), 3)
    pitches = melody_pitches(contour, n, peak, rng)
    notes = [
        {"midi": p, "name": note_name(p), "onset": round(lead + i * ioi, 3), "duration": round(0.85 * ioi, 3)}
        for i, p in enumerate(pitches)
    ]
    highest = int(np.argmax(pitches)) + 1
    return {
        "kind": "melody",
        "notes": notes,
        "tempo": tempo,
        "ioi_s": ioi,
        "contour": contour,
        "n_notes": n,
        "highest_note": highest,
        "duration": round(lead + n * ioi + 0.2, 3),
    }


def triad_meta(quality: str, rng: np.random.Generator) -> dict[str, Any]:
    """A triad played note by note (rising), then as a chord."""
    root = int(rng.choice(TRIAD_ROOTS))
    third, fifth = TRIAD_INTERVALS[quality]
    pitches = [root, root + third, root + third + fifth]
    lead = round(float(rng.uniform(0.1, 0.3)), 3)
    notes = [
        {
            "midi": p,
            "name": note_name(p),
            "onset": round(lead + i * ARPEGGIO_IOI_S, 3),
            "duration": round(0.85 * ARPEGGIO_IOI_S, 3),
        }
        for i, p in enumerate(pitches)
    ]
    chord_onset = round(lead + 3 * ARPEGGIO_IOI_S, 3)
    notes += [{"midi": p, "name": note_name(p), "onset": chord_onset, "duration": CHORD_S} for p in pitches]
    return {
        "kind": "triad",
        "notes": notes,
        "quality": quality,
        "root": note_name(root),
        "intervals": [third, fifth],
        "duration": round(chord_onset + CHORD_S + 0.2, 3),
    }
