"""Canonical captions and the oracle description: exact text on hand-made clips, every fact a
question needs present, and a vocabulary small enough for a nano student."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from audistill.synth import caption, oracle_description
from audistill.synth.build import perception_scene
from audistill.synth.plan import reasoning_jobs

BEEP = {"kind": "beep", "onset": 0.4, "duration": 0.25, "level_db": -12.0, "freq_hz": 880}
CLICK = {"kind": "click", "onset": 1.2, "duration": 0.02, "level_db": -11.0}
MELODY = {
    "kind": "melody", "n_notes": 5, "contour": "rising then falling", "highest_note": 3, "tempo": "fast",
    "ioi_s": 0.25, "notes": [{"name": n} for n in ("C5", "E5", "G5", "E5", "D5")],
}


def sounds(*events: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "sounds", "events": list(events), "snr_db": 21.7, "duration": 3.0}


def test_sound_captions_group_runs_of_the_same_sound() -> None:
    second_beep = {**BEEP, "onset": 0.9}
    assert caption(sounds(BEEP, second_beep, CLICK)) == "two beeps, then one click"
    assert caption(sounds(BEEP, CLICK, second_beep)) == "one beep, then one click, then one beep"
    loud = {**BEEP, "length": "long", "loudness": "loud"}
    soft = {**BEEP, "length": "short", "loudness": "soft"}
    assert caption(sounds(loud, soft)) == "one long loud beep, then one short soft beep"
    assert caption(sounds(loud, loud)) == "two long loud beeps"


def test_music_and_speech_captions() -> None:
    assert caption(MELODY) == "five notes, rising then falling, peak on note three, fast tempo"
    rising = {**MELODY, "n_notes": 4, "contour": "rising", "highest_note": 4, "tempo": "slow"}
    assert caption(rising) == "four notes, rising, slow tempo"
    assert caption({"kind": "triad", "quality": "minor"}) == "a minor triad"
    speech = {"kind": "speech", "emotion": "angry", "transcript": "You broke my phone."}
    assert caption(speech) == 'The speaker says in an angry voice: "You broke my phone."'


def test_oracle_descriptions_are_exact() -> None:
    chirp = {"kind": "rising chirp", "onset": 2.0, "duration": 0.4, "level_db": -10.0,
             "freq_hz": 500, "end_freq_hz": 1000}
    assert oracle_description(sounds(BEEP, CLICK, chirp)) == (
        "Sounds: one beep, then one click, then one rising chirp. Events: beep 0.40-0.65 s (880 Hz); "
        "click 1.20-1.22 s; rising chirp 2.00-2.40 s (500 to 1000 Hz). Background noise 22 dB below a "
        "loud event."
    )
    assert oracle_description(MELODY) == (
        "Melody: five notes, rising then falling, peak on note three, fast tempo (0.25 s per note). "
        "Notes: C5 E5 G5 E5 D5. Highest note: the third."
    )
    triad = {"kind": "triad", "quality": "major", "intervals": [4, 3],
             "notes": [{"name": n} for n in ("D4", "F#4", "A4", "D4", "F#4", "A4")]}
    assert oracle_description(triad) == (
        "Music: a major triad. Notes D4 F#4 A4 played one by one, then together; 4 then 3 semitones apart."
    )
    speech = {"kind": "speech", "emotion": "sad", "transcript": "Ben is six."}
    assert oracle_description(speech) == 'The speaker says in a sad voice: "Ben is six."'


def test_oracle_description_holds_every_fact_the_questions_need() -> None:
    from audistill.synth.build import draft_reasoning

    for job in reasoning_jobs("train", 600, 4, "unused", 16000, 5.0):
        scene = draft_reasoning(job)[0].scene
        text = oracle_description(scene)
        assert text == oracle_description(dict(scene))
        assert caption(scene) in text
        if scene["kind"] == "speech":
            assert scene["transcript"] in text and scene["emotion"] in text
        elif scene["kind"] == "sounds":
            events = text.split("Events: ")[1].split(". Background")[0].split("; ")
            assert len(events) == len(scene["events"])
            for line, event in zip(events, scene["events"], strict=True):
                assert line.startswith(" ".join([event.get("length", ""), event.get("loudness", ""),
                                                 event["kind"]]).strip())
                assert f"{event['onset']:.2f}-" in line
        elif scene["kind"] == "melody":
            assert text.split("Notes: ")[1].split(".")[0].split() == [n["name"] for n in scene["notes"]]
        else:
            assert f"{scene['intervals'][0]} then {scene['intervals'][1]} semitones" in text


def test_perception_vocabulary_is_small_and_sentences_short() -> None:
    words: dict[str, set[str]] = {"speech": set(), "sound": set(), "music": set()}
    captions: dict[str, set[str]] = {"sound": set(), "music": set()}
    for i in range(1500):
        rng = np.random.default_rng([9, i])
        for task in words:
            scene = perception_scene(task, rng)
            text = scene["transcript"] if task == "speech" else caption(scene)
            words[task] |= set(re.findall(r"[a-z']+", text.lower()))
            if task == "speech":
                assert len(text.split()) <= 14, text
            else:
                captions[task].add(text)
    assert len(words["speech"]) <= 110
    assert len(words["sound"] | words["music"]) <= 40
    # Music captions repeat often; sound captions are short sequences over five kinds of sound.
    assert len(captions["music"]) <= 60 and len(captions["sound"]) <= 600
