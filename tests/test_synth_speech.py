"""espeak-ng speech: reproducible samples, emotions that differ in the audio as documented, clips
kept within the limit, and clear errors when espeak-ng cannot be loaded."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import audistill.synth.espeak as espeak
from audistill.synth import EspeakError, SynthSettings, SynthSizes, generate
from audistill.synth.voices import EMOTION_PROSODY, SpeechTooLongError, speak

SR = 16000
SENTENCE = "Anna has three apples and Ben has five apples."


def say(text: str = SENTENCE, voice: str = "en-us+m3", emotion: str = "neutral", seed: int = 1) -> np.ndarray:
    return speak(text, voice, emotion, SR, 5.0, seed)[0]


def f0_track(x: np.ndarray) -> np.ndarray:
    """Autocorrelation pitch (50 to 400 Hz) of clearly voiced 40 ms frames."""
    frame, hop = int(0.04 * SR), int(0.01 * SR)
    lo, hi = SR // 400, SR // 50
    out = []
    for start in range(0, len(x) - frame, hop):
        w = x[start:start + frame] - x[start:start + frame].mean()
        if np.sqrt(np.mean(w**2)) < 0.01:
            continue
        ac = np.correlate(w, w, "full")[frame - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            out.append(SR / lag)
    return np.array(out)


def rms(x: np.ndarray) -> float:
    voiced = x[np.abs(x) > 0.01]
    return float(np.sqrt(np.mean(voiced**2)))


def test_speech_is_16k_audible_and_reproducible_whatever_came_before() -> None:
    first = say(seed=5)
    say("Something else entirely, spoken in between.", "en-us+f2", "angry", seed=9)
    again = say(seed=5)
    assert first.dtype == np.float32 and 1.0 < len(first) / SR < 5.0
    assert np.sqrt(np.mean(first**2)) > 0.02
    assert np.array_equal(first, again)
    # The seed drives espeak's own noise, which some voices use.
    seeded = [say(voice="en-us+f3", emotion="happy", seed=seed) for seed in (3, 4)]
    assert not np.array_equal(*seeded)


def test_longer_sentences_take_longer() -> None:
    short = say("Anna has three apples.")
    long = say("Anna has three apples, Ben has five and Carla has two.")
    assert len(long) > 1.5 * len(short)


@pytest.mark.parametrize("voice", ["en-us+m3", "en-us+f3"])
def test_emotions_differ_in_rate_loudness_and_pitch_as_documented(voice: str) -> None:
    audio = {emotion: say(voice=voice, emotion=emotion) for emotion in EMOTION_PROSODY}
    length = {e: len(a) for e, a in audio.items()}
    assert length["sad"] > length["neutral"] > length["happy"]
    assert length["neutral"] > length["angry"]
    loud = {e: rms(a) for e, a in audio.items()}
    assert loud["angry"] > loud["neutral"] > loud["sad"]
    assert loud["angry"] > 1.2 * loud["happy"]
    pitch = {e: f0_track(a) for e, a in audio.items()}
    median = {e: float(np.median(p)) for e, p in pitch.items()}
    assert median["happy"] > 1.2 * median["neutral"] > 1.2 * median["sad"]
    semitones = {e: 12 * np.log2(p) for e, p in pitch.items()}
    spread = {e: float(np.subtract(*np.percentile(s, [75, 25]))) for e, s in semitones.items()}
    assert spread["happy"] > spread["neutral"] > 2 * spread["sad"]


def test_long_sentences_are_spoken_faster_to_fit_the_clip() -> None:
    text = "Anna bought a lemon, an apple, a pen, a plum and a hat."
    audio, prosody = speak(text, "en-us+m3", "sad", SR, 4.0, 1)
    assert len(audio) <= 4.0 * SR
    assert prosody["rate"] > EMOTION_PROSODY["sad"].rate
    with pytest.raises(SpeechTooLongError, match=r"longer than 0\.5 s"):
        speak(text, "en-us+m3", "sad", SR, 0.5, 1)


def test_unknown_voice_is_an_error() -> None:
    with pytest.raises(EspeakError, match="no voice named 'xx-nope'"):
        speak("hello", "xx-nope", "neutral", SR, 5.0)


def test_a_library_that_cannot_load_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import espeakng_loader

    bogus = tmp_path / "libespeak-ng.so"
    bogus.write_text("not a library")
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(bogus))
    with pytest.raises(EspeakError) as caught:
        espeak.check_library()
    assert str(bogus) in str(caught.value) and "pip install espeakng-loader" in str(caught.value)
    out = tmp_path / "set"
    with pytest.raises(EspeakError, match="pip install espeakng-loader"):
        generate(out, SynthSettings(seed=0, size="tiny", sizes=SynthSizes({"train": 3}, {})), progress=False)
    assert not out.exists(), "nothing is written when speech cannot be made"


def test_a_missing_package_or_data_folder_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import espeakng_loader

    def no_data() -> str:
        raise RuntimeError("data path not exists")

    monkeypatch.setattr(espeakng_loader, "get_data_path", no_data)
    with pytest.raises(EspeakError, match=r"cannot find espeak-ng .*pip install espeakng-loader"):
        espeak.check_library()
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(EspeakError, match=r"espeakng-loader is not installed.*pip install espeakng-loader"):
        espeak.check_library()
