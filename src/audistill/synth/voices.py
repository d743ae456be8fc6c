"""Emotional speech: espeak-ng voice variants and one documented prosody setting per emotion.

The settings differ strongly and consistently (rate, loudness, base pitch, pitch range), so a
small model can hear the emotion whatever the voice; the voice variant only shifts timbre and
base pitch. Values are espeak_SetParameter units (see `Prosody`).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np

from audistill.synth.espeak import Prosody, engine

EMOTION_PROSODY: dict[str, Prosody] = {
    # Default espeak speech: normal rate, loudness, pitch and intonation.
    "neutral": Prosody(rate=165, volume=100, pitch=50, range=40),
    # High, widely swinging pitch, brisk.
    "happy": Prosody(rate=200, volume=90, pitch=85, range=100),
    # Low, almost monotone, slow and quiet.
    "sad": Prosody(rate=130, volume=50, pitch=20, range=5),
    # Loud (volume 200 also makes espeak compress the waveform: harsher), fast, mid pitch.
    "angry": Prosody(rate=215, volume=200, pitch=50, range=70),
}

VOICES: tuple[str, ...] = ("en-us+m1", "en-us+m3", "en-us+m7", "en-us+f2", "en-us+f3", "en-us+f4")
"""espeak-ng voice names: American English with male (m) and female (f) variants."""

SPEECH_GAIN = 0.7
"""Fixed gain on espeak's output so that the loudest (angry) voice stays below full scale; one
gain for every clip keeps the loudness differences between emotions."""

_SPEED_UP = 1.15
_MAX_SPEED_UPS = 4


class SpeechTooLongError(ValueError):
    """A sentence that does not fit the clip length even when spoken faster."""


def speak(
    text: str, voice: str, emotion: str, sample_rate: int, max_seconds: float, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Speak `text` with `voice` in `emotion`; returns audio and the prosody actually used.

    A sentence longer than `max_seconds` is spoken again at a 15% higher rate, at most four
    times; the rate used is what the returned prosody says.
    """
    prosody = EMOTION_PROSODY[emotion]
    for attempt in range(_MAX_SPEED_UPS + 1):
        if attempt:
            prosody = replace(prosody, rate=min(450, round(prosody.rate * _SPEED_UP)))
        audio = engine().synthesize(text, voice, prosody, sample_rate, seed) * SPEECH_GAIN
        if len(audio) <= max_seconds * sample_rate:
            return np.clip(audio, -1.0, 1.0).astype(np.float32), asdict(prosody)
    raise SpeechTooLongError(
        f"speech {text!r} ({voice}, {emotion}) is longer than {max_seconds} s even at rate {prosody.rate}"
    )
