"""CARD.md: what a generated set holds, how it was made, and what its test split holds out.

The card has no timestamps or paths, so the same settings give the same bytes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from audistill.synth.build import SPLITS, SUBCATEGORIES
from audistill.synth.items import SubCategory
from audistill.synth.lexicon import HELD_OUT_NAMES, HELD_OUT_NUMBERS, NUMBER_WORDS, TRAIN_NAMES, Template
from audistill.synth.music import TEMPO_IOI_S, TRIAD_ROOTS, note_name
from audistill.synth.sounds import LONG_S, LOUD_DBFS, SHORT_S, SOFT_DBFS, SOUND_KINDS
from audistill.synth.voices import EMOTION_PROSODY, SPEECH_GAIN, VOICES

if TYPE_CHECKING:
    from audistill.synth.generate import SynthSettings

Rows = dict[tuple[str, str], list[dict[str, Any]]]


def all_templates() -> list[Template]:
    """Every question template of every generator module, in definition order."""
    from audistill.synth import music_items, sound_items, speech_items

    found: list[Template] = []
    for module in (speech_items, sound_items, music_items):
        for value in vars(module).values():
            if isinstance(value, tuple) and value and all(isinstance(t, Template) for t in value):
                found.extend(t for t in value if t not in found)
    return found


def held_out_templates() -> list[Template]:
    return [t for t in all_templates() if t.held_out]


def _table(header: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return lines


def _reasoning_counts(rows: Rows) -> list[str]:
    count = {
        split: Counter((r["task"], r["sub-category"], r["difficulty"]) for r in rows[("reasoning", split)])
        for split in SPLITS
    }
    body = []
    sub: SubCategory
    for sub in SUBCATEGORIES:
        for difficulty, level in sub.levels.items():
            key = (sub.task, sub.name, difficulty)
            body.append(
                [
                    sub.task,
                    sub.name,
                    difficulty,
                    level.category,
                    level.n_choices,
                    *(count[s][key] for s in SPLITS),
                ]
            )
    totals = [sum(count[s].values()) for s in SPLITS]
    body.append(["**all**", "", "", "", "", *totals])
    return _table(["task", "sub-category", "difficulty", "category", "choices", *SPLITS], body)


def _by(rows: Rows, set_name: str, field: str) -> list[str]:
    count = {split: Counter(r[field] for r in rows[(set_name, split)]) for split in SPLITS}
    values = sorted({v for c in count.values() for v in c})
    return _table([field, *SPLITS], [[v, *(count[s][v] for s in SPLITS)] for v in values])


def _perception_counts(rows: Rows) -> list[str]:
    count = {
        split: Counter((r["task"], r["sub-category"]) for r in rows[("perception", split)])
        for split in SPLITS
    }
    keys = sorted({k for c in count.values() for k in c})
    body = [[t, s, *(count[sp][(t, s)] for sp in SPLITS)] for t, s in keys]
    body.append(["**all**", "", *(sum(count[sp].values()) for sp in SPLITS)])
    return _table(["task", "sub-category", *SPLITS], body)


def _positions(rows: Rows) -> list[str]:
    body = []
    for split in SPLITS:
        count = Counter(
            (len(r["choices"]), r["choices"].index(r["answer"])) for r in rows[("reasoning", split)]
        )
        for n in sorted({n for n, _ in count}):
            body.append([split, n, " / ".join(str(count[(n, p)]) for p in range(n))])
    return _table(["split", "choices", "answers at position 1 / 2 / ..."], body)


def _made_with(settings: SynthSettings) -> str:
    from audistill.synth.plan import SIZE_PRESETS

    if SIZE_PRESETS.get(settings.size) == settings.sizes:
        return f"Made with: `audistill synth --out DIR --size {settings.size} --seed {settings.seed}`."
    return (
        f"Made with `audistill.synth.generate` with seed {settings.seed} and the custom sizes listed under "
        "Generator settings."
    )


def card_text(settings: SynthSettings, rows: Rows) -> str:
    test_use = Counter(u for r in rows[("reasoning", "test")] for u in r["meta"]["held_out"])
    n_test = len(rows[("reasoning", "test")])
    n_held = sum(1 for r in rows[("reasoning", "test")] if r["meta"]["held_out"])
    lines = [
        "# audistill-synth",
        "",
        "A spoken, sound and music reasoning benchmark with synthesized audio, in MMAU's JSON format, "
        "made by `audistill synth`. Every item's ground truth is in its `meta` field.",
        "",
        _made_with(settings) + " The same settings give byte-identical files.",
        "",
        "## Files",
        "",
        "- `train.json`, `dev.json`, `test.json`: reasoning items (MMAU fields `id`, `audio_id`, `question`, "
        "`choices`, `answer`, `dataset`, `task`, `split`, `category`, `sub-category`, `difficulty`, plus "
        "`reasoning`, the CoTA trace `<THINK><PLANNING>..</PLANNING><CAPTION>..</CAPTION><REASONING>.."
        "</REASONING><SUMMARY>..</SUMMARY></THINK><RESPONSE>..</RESPONSE>`, and `meta`, the ground truth: "
        "transcript, emotion, voice and prosody; sound events with onsets, durations and levels; notes; "
        "the question in machine-readable form (`query`), its template id and the held-out content it uses).",
        "- `perception/train.json`, `dev.json`, `test.json`: perception items for pretraining a student's "
        "hearing (transcription and emotion recognition of speech, canonical captions of sounds and "
        "melodies); "
        "open-ended items have no choices.",
        "- `audio/*.wav`, `perception/audio/*.wav`: "
        f"{settings.sample_rate} Hz mono 16-bit PCM, at most {settings.max_seconds:g} s; "
        "every `audio_id` is relative to the folder of its JSON file.",
        "",
        "## Reasoning items",
        "",
        "Difficulty is the number of reasoning steps after hearing: easy 1, medium 2, hard 3 or more.",
        "",
        *_reasoning_counts(rows),
        "",
        *_by(rows, "reasoning", "task"),
        "",
        *_by(rows, "reasoning", "category"),
        "",
        "Correct answers by choice position (balanced within every task, sub-category and difficulty):",
        "",
        *_positions(rows),
        "",
        "## Perception items",
        "",
        *_perception_counts(rows),
        "",
        "## Held out from train",
        "",
        "The test split of the reasoning set uses names, numbers and question templates that the train "
        "and dev splits never use (checked for every item as it is made: in the transcript, the question, "
        "the choices and the answer), so test accuracy measures reasoning rather than recall. The test "
        "split prefers held-out names and templates half of the time. The perception sets use the whole "
        "vocabulary in every split, held-out names and numbers included, because a student cannot "
        "transcribe a word it never heard; no perception item asks a reasoning question.",
        "",
        f"- Names: {', '.join(HELD_OUT_NAMES)} (train and dev use {', '.join(TRAIN_NAMES)}).",
        f"- Numbers: {', '.join(f'{n} ({NUMBER_WORDS[n]})' for n in HELD_OUT_NUMBERS)}: never spoken, asked, "
        "offered or answered in train and dev.",
        "- Question templates:",
        "",
        *_table(["template id", "text"], [[t.id, t.text] for t in held_out_templates()]),
        "",
        f"Test items using at least one held-out name, number or template: {n_held} of {n_test}.",
        "",
        *_table(["held-out content", "test items using it"], sorted(test_use.items())),
        "",
        "## Generator settings",
        "",
        f"- Seed {settings.seed}; size preset `{settings.size}`: reasoning "
        + ", ".join(f"{s} {settings.sizes.reasoning.get(s, 0)}" for s in SPLITS)
        + "; perception "
        + ", ".join(f"{s} {settings.sizes.perception.get(s, 0)}" for s in SPLITS)
        + ".",
        "- Each clip's randomness comes from its own seed (master seed, set, split, index), so the number "
        "of worker processes never changes the output.",
        f"- Speech: espeak-ng (PyPI espeakng-loader, driven by ctypes), voices {', '.join(VOICES)}, "
        f"gain {SPEECH_GAIN}; resampled with soxr. A sentence longer than the clip limit is spoken 15% "
        "faster (at most four times); `meta.prosody` holds the settings actually used.",
        "",
        *_table(
            ["emotion", "rate (wpm)", "volume (0-200)", "pitch (0-100)", "pitch range (0-100)"],
            [[e, p.rate, p.volume, p.pitch, p.range] for e, p in EMOTION_PROSODY.items()],
        ),
        "",
        f"- Sounds: {', '.join(SOUND_KINDS)}; loud events at {LOUD_DBFS:g} dBFS RMS, soft at {SOFT_DBFS:g}, "
        f"long {LONG_S:g} s, short {SHORT_S:g} s; gaps of at least 0.2 s; white background noise 18 to 30 dB "
        "(20 to 30 dB in loudness and duration scenes) below a loud event.",
        f"- Music: notes with five harmonics and an ADSR envelope; melodies of 3 to 6 notes of the C major "
        f"scale, tempo fast ({TEMPO_IOI_S['fast']:g} s per note) or slow ({TEMPO_IOI_S['slow']:g} s); triads "
        f"on roots {', '.join(note_name(r) for r in TRIAD_ROOTS)}, played note by note then as a chord.",
        "",
    ]
    return "\n".join(lines)
