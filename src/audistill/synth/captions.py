"""Text views of a clip's ground truth: the short canonical caption and the oracle description.

`caption(meta)` is what a listener can say about the clip in a fixed, short grammar: the
perception sets teach it to the student, and it is the CAPTION stage of every reasoning trace.
`oracle_description(meta)` is the caption plus exact details (times, levels, notes): what a
perfect textualizer would give the text teacher in place of the audio.
"""

from __future__ import annotations

from typing import Any

from audistill.synth.lexicon import NUMBER_WORDS, ORDINALS, article
from audistill.synth.sounds import PLURALS


def speech_caption(meta: dict[str, Any]) -> str:
    return f'The speaker says in {article(meta["emotion"])} voice: "{meta["transcript"]}"'


def _event_words(event: dict[str, Any], plural: bool = False) -> str:
    attrs = [event[key] for key in ("length", "loudness") if key in event]
    return " ".join([*attrs, PLURALS[event["kind"]] if plural else event["kind"]])


def sound_caption(meta: dict[str, Any]) -> str:
    """Runs of identical events in order: "two beeps, then one click", or with attributes
    "one long loud beep, then one short soft beep"."""
    runs: list[tuple[dict[str, Any], int]] = []
    for event in meta["events"]:
        if runs and _event_words(runs[-1][0]) == _event_words(event):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((event, 1))
    return ", then ".join(
        f"{NUMBER_WORDS[count]} {_event_words(event, plural=count > 1)}" for event, count in runs
    )


def melody_caption(meta: dict[str, Any]) -> str:
    shape = meta["contour"]
    if shape == "rising then falling":
        shape += f", peak on note {NUMBER_WORDS[meta['highest_note']]}"
    return f"{NUMBER_WORDS[meta['n_notes']]} notes, {shape}, {meta['tempo']} tempo"


def triad_caption(meta: dict[str, Any]) -> str:
    return f"a {meta['quality']} triad"


def caption(meta: dict[str, Any]) -> str:
    """The canonical short caption of a clip, from its ground truth."""
    kind = meta["kind"]
    if kind == "speech":
        return speech_caption(meta)
    if kind == "sounds":
        return sound_caption(meta)
    if kind == "melody":
        return melody_caption(meta)
    if kind == "triad":
        return triad_caption(meta)
    raise ValueError(f"unknown clip kind {kind!r} in meta")


def _event_detail(event: dict[str, Any]) -> str:
    start, end = event["onset"], event["onset"] + event["duration"]
    text = f"{_event_words(event)} {start:.2f}-{end:.2f} s"
    if event["kind"] in ("rising chirp", "falling chirp"):
        text += f" ({event['freq_hz']} to {event['end_freq_hz']} Hz)"
    elif event["kind"] == "beep":
        text += f" ({event['freq_hz']} Hz)"
    return text


def oracle_description(meta: dict[str, Any]) -> str:
    """A deterministic, exact text description of the clip built from its ground truth."""
    kind = meta["kind"]
    if kind == "speech":
        return speech_caption(meta)
    if kind == "sounds":
        events = "; ".join(_event_detail(e) for e in meta["events"])
        return (
            f"Sounds: {sound_caption(meta)}. Events: {events}. "
            f"Background noise {meta['snr_db']:.0f} dB below a loud event."
        )
    if kind == "melody":
        names = " ".join(n["name"] for n in meta["notes"])
        return (
            f"Melody: {melody_caption(meta)} ({meta['ioi_s']:.2f} s per note). Notes: {names}. "
            f"Highest note: the {ORDINALS[meta['highest_note']]}."
        )
    if kind == "triad":
        names = " ".join(n["name"] for n in meta["notes"][:3])
        third, fifth = meta["intervals"]
        return (
            f"Music: {triad_caption(meta)}. Notes {names} played one by one, then together; "
            f"{third} then {fifth} semitones apart."
        )
    raise ValueError(f"unknown clip kind {kind!r} in meta")
