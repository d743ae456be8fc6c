"""Sound and music rendering: the samples hold what the meta says (pitch direction, frequency,
level, length, noise level, notes, intervals, tempo), measured with simple signal analysis."""

from __future__ import annotations

import numpy as np
import pytest

from audistill.synth.lexicon import TRAIN_POOLS
from audistill.synth.music import melody_meta, render_music, triad_meta
from audistill.synth.music_items import random_melody
from audistill.synth.sound_items import loudness_duration, pitch_direction, sound_scene
from audistill.synth.sounds import LOUD_DBFS, make_event, place_events, render_sounds

SR = 16000


def segment(audio: np.ndarray, start: float, duration: float) -> np.ndarray:
    return audio[round(start * SR): round((start + duration) * SR)]


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12))


def zero_crossing_rate(x: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(np.signbit(x).astype(int)))))


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=1 << 16))
    return float(np.argmax(spectrum) * SR / (1 << 16))


def hz_to_midi(hz: float) -> int:
    return round(12 * np.log2(hz / 440.0) + 69)


def test_chirps_rise_and_fall_as_meta_says() -> None:
    for seed in range(40):
        rng = np.random.default_rng(seed)
        scene = pitch_direction(rng, ("easy", "medium", "hard")[seed % 3], TRAIN_POOLS).scene
        audio = render_sounds(scene, SR)
        for event in scene["events"]:
            half = event["duration"] / 2
            first = zero_crossing_rate(segment(audio, event["onset"], half))
            second = zero_crossing_rate(segment(audio, event["onset"] + half, half))
            rising = event["end_freq_hz"] > event["freq_hz"]
            assert (second > first) == rising, (seed, event)
            assert event["kind"] == ("rising chirp" if rising else "falling chirp")


def test_beeps_sound_at_their_frequency() -> None:
    rng = np.random.default_rng(0)
    events = [make_event("beep", rng, duration=0.3) for _ in range(4)]
    scene = sound_scene(rng, events)
    audio = render_sounds(scene, SR)
    for event in events:
        assert peak_hz(segment(audio, event["onset"] + 0.02, 0.26)) == pytest.approx(event["freq_hz"], abs=3)


def test_loud_events_are_12_db_above_soft_ones_and_long_ones_last_longer() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        scene = loudness_duration(rng, ("easy", "medium", "hard")[seed % 3], TRAIN_POOLS).scene
        audio = render_sounds(scene, SR)
        for event in scene["events"]:
            level = rms_db(segment(audio, event["onset"] + 0.02, event["duration"] - 0.04))
            expected = LOUD_DBFS if event["loudness"] == "loud" else LOUD_DBFS - 12
            assert level == pytest.approx(expected, abs=1.0), (seed, event)
            # Active length: 10 ms frames within 5 dB of the event's level (noise is 8 dB or more below).
            window = segment(audio, event["onset"] - 0.1, event["duration"] + 0.2)
            frames = window[: len(window) // 160 * 160].reshape(-1, 160)
            frame_db = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
            active = np.sum(frame_db > expected - 5) * 0.01
            assert active == pytest.approx(event["duration"], abs=0.03), (seed, event)
            assert event["length"] == ("long" if event["duration"] > 0.4 else "short")


def test_background_noise_sits_snr_below_a_loud_event() -> None:
    rng = np.random.default_rng(3)
    scene = sound_scene(rng, [make_event("beep", rng)])
    audio = render_sounds(scene, SR)
    lead = segment(audio, 0.0, scene["events"][0]["onset"] - 0.01)
    assert rms_db(lead) == pytest.approx(LOUD_DBFS - scene["snr_db"], abs=0.5)


def test_rendering_depends_on_meta_only() -> None:
    scene = sound_scene(np.random.default_rng(1), [make_event("noise burst", np.random.default_rng(2))])
    assert np.array_equal(render_sounds(scene, SR), render_sounds(dict(scene), SR))


def test_scenes_that_cannot_fit_the_clip_are_refused() -> None:
    rng = np.random.default_rng(0)
    events = [make_event("beep", rng, duration=0.6) for _ in range(9)]
    with pytest.raises(ValueError, match=r"do not fit in 5\.0 s"):
        place_events(events, rng, 5.0)


def test_melody_notes_have_the_meta_pitches_and_tempo() -> None:
    for seed in range(20):
        meta = random_melody(np.random.default_rng(seed))
        audio = render_music(meta, SR)
        windows = [segment(audio, n["onset"] + 0.03, n["duration"] - 0.06) for n in meta["notes"]]
        heard = [hz_to_midi(peak_hz(w)) for w in windows]
        assert heard == [n["midi"] for n in meta["notes"]], seed
        assert len(audio) / SR == pytest.approx(meta["duration"], abs=1e-3)
        assert len(audio) / SR <= 5.0


def test_longest_slow_melody_fits_five_seconds() -> None:
    meta = melody_meta("rising", 6, 6, "slow", np.random.default_rng(0))
    assert len(render_music(meta, SR)) / SR <= 5.0
    assert np.diff([n["onset"] for n in meta["notes"]]) == pytest.approx(0.6)


@pytest.mark.parametrize(("quality", "intervals"), [("major", [4, 3]), ("minor", [3, 4])])
def test_triads_are_major_or_minor_in_the_audio(quality: str, intervals: list[int]) -> None:
    for seed in range(6):
        meta = triad_meta(quality, np.random.default_rng(seed))
        audio = render_music(meta, SR)
        arpeggio = [hz_to_midi(peak_hz(segment(audio, n["onset"] + 0.03, n["duration"] - 0.06)))
                    for n in meta["notes"][:3]]
        assert list(np.diff(arpeggio)) == intervals
