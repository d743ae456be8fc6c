"""Music reasoning items: note counting, melodic contour, tempo, highest note, triad quality."""

from __future__ import annotations

import numpy as np

from audistill.synth.items import IE, REASONING, Draft, Level, SubCategory, numeric_distractors, pick
from audistill.synth.lexicon import ORDINALS, Pools, Template, number_word
from audistill.synth.music import CONTOURS, TEMPO_IOI_S, melody_meta, triad_meta


def random_melody(rng: np.random.Generator, n_low: int = 3, n_high: int = 6) -> dict[str, object]:
    """A melody with random length, contour (the peak of an arch never at either end) and tempo."""
    n = int(rng.integers(n_low, n_high + 1))
    contour = str(pick(rng, CONTOURS))
    peak = {"rising": n, "falling": 1}.get(contour, int(rng.integers(2, n)))
    return melody_meta(contour, n, peak, str(pick(rng, tuple(TEMPO_IOI_S))), rng)


def _heard(scene: dict) -> str:
    text = f"I hear {scene['n_notes']} notes, {scene['contour']}"
    return text + f", with the highest note {ORDINALS[scene['highest_note']]}."


# ---------------------------------------------------------------- note counting

T_NOTES = (
    Template("notes.count.1", "How many notes are played?"),
    Template("notes.count.2", "How many notes does the melody have?"),
    Template("notes.count.h", "Count the notes: how many are there?", True),
)
T_AFTER_PEAK = (
    Template("notes.after.1", "How many notes come after the highest note?"),
    Template("notes.after.2", "How many notes follow the highest one?"),
    Template("notes.after.h", "After the top note, how many notes are left?", True),
)
T_NOTE_SCORE = (
    Template(
        "notes.score.1",
        "Each note is worth {v} points, and notes after the highest note are worth "
        "double. What is the total score?",
    ),
    Template(
        "notes.score.2",
        "Notes up to and including the highest one earn {v} points each, later notes "
        "earn twice that. What is the total?",
    ),
    Template(
        "notes.score.h",
        "Every note scores {v} points, and each note after the peak scores double. What is the score?",
        True,
    ),
)


def note_counting(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty == "easy":
        scene = random_melody(rng)
        n = scene["n_notes"]
        template = pools.template(rng, T_NOTES)
        return Draft(
            scene,
            template.text,
            str(n),
            numeric_distractors(n, rng, pools, plausible=[n - 1, n + 1], low=2, high=8),
            template,
            {"type": "count_notes"},
            "I need to count the notes.",
            [f"I hear {n} separate notes."],
            f"The melody has {n} notes.",
        )
    scene = random_melody(rng, 4, 6)
    n, k = scene["n_notes"], scene["highest_note"]
    if difficulty == "medium":
        template = pools.template(rng, T_AFTER_PEAK)
        answer = n - k
        return Draft(
            scene,
            template.text,
            str(answer),
            numeric_distractors(answer, rng, pools, plausible=[n - k + 1, k, n], low=0, high=6),
            template,
            {"type": "notes_after_highest"},
            "I need the number of notes and the position of the highest one, then subtract.",
            [_heard(scene), f"{n} - {k} = {answer}."],
            f"{answer} {'note comes' if answer == 1 else 'notes come'} after the highest note.",
        )
    value = pools.point_values(rng, 1)[0]
    answer = k * value + (n - k) * 2 * value
    template = pools.template(rng, T_NOTE_SCORE)
    return Draft(
        scene,
        template.text.format(v=number_word(value)),
        str(answer),
        numeric_distractors(answer, rng, pools, plausible=[n * value, 2 * n * value, k * value], low=1),
        template,
        {"type": "note_score", "value": value},
        "I need the number of notes and where the highest one is, then add up the points.",
        [
            _heard(scene),
            f"{k} {'note' if k == 1 else 'notes'} up to the highest: {k} x {value} = {k * value}.",
            f"{n - k} {'note' if n - k == 1 else 'notes'} after it: "
            f"{n - k} x {2 * value} = {(n - k) * 2 * value}.",
            f"{k * value} + {(n - k) * 2 * value} = {answer}.",
        ],
        f"The total score is {answer} points.",
    )


# ---------------------------------------------------------------- contour and tempo

T_CONTOUR = (
    Template("contour.1", "How does the melody move?"),
    Template("contour.2", "What is the shape of the melody?"),
    Template("contour.h", "Which way does the pitch travel over the melody?", True),
)
T_TEMPO = (
    Template("tempo.1", "Is the melody played at a fast or a slow tempo?"),
    Template("tempo.2", "How fast is the melody?"),
    Template("tempo.h", "Does the melody hurry or take its time?", True),
)


def contour(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    scene = random_melody(rng)
    template = pools.template(rng, T_CONTOUR)
    answer = scene["contour"]
    return Draft(
        scene,
        template.text,
        answer,
        [c for c in CONTOURS if c != answer],
        template,
        {"type": "contour"},
        "I need to follow the pitch from note to note.",
        [f"The notes go {_contour_words(answer)}."],
        f"The melody is {answer}.",
    )


def _contour_words(shape: str) -> str:
    return {"rising": "up", "falling": "down", "rising then falling": "up, then down"}[shape]


def tempo(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    scene = random_melody(rng)
    template = pools.template(rng, T_TEMPO)
    answer = scene["tempo"]
    return Draft(
        scene,
        template.text,
        answer,
        ["slow" if answer == "fast" else "fast"],
        template,
        {"type": "tempo"},
        "I need to judge how quickly the notes follow each other.",
        [f"A new note starts every {scene['ioi_s']:.2f} s, which is {answer}."],
        f"The tempo is {answer}.",
    )


# ---------------------------------------------------------------- highest note

T_HIGHEST = (
    Template("highest.1", "Which note is the highest?"),
    Template("highest.2", "Which note reaches the highest pitch?"),
    Template("highest.h", "At which note does the melody peak?", True),
)
T_FROM_END = (
    Template(
        "highest.end.1",
        "Counting backwards from the last note as number one, what number is the highest note?",
    ),
    Template(
        "highest.end.2", "Numbering the notes backwards from the end, which number does the highest note get?"
    ),
    Template(
        "highest.end.h", "Counting from the end of the melody, in which position is the highest note?", True
    ),
)


def highest_note(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    scene = random_melody(rng, 4, 6)
    n, k = scene["n_notes"], scene["highest_note"]
    if difficulty == "medium":
        template = pools.template(rng, T_HIGHEST)
        others = [i for i in range(1, n + 1) if i != k]
        picked = [others[i] for i in rng.choice(len(others), size=3, replace=False)]
        return Draft(
            scene,
            template.text,
            f"the {ORDINALS[k]}",
            [f"the {ORDINALS[i]}" for i in picked],
            template,
            {"type": "highest"},
            "I need to find where the melody peaks.",
            [_heard(scene), f"The peak is note {k}."],
            f"The {ORDINALS[k]} note is the highest.",
        )
    template = pools.template(rng, T_FROM_END)
    answer = n - k + 1
    others = [i for i in range(1, n + 1) if i != answer]
    picked = [others[i] for i in rng.choice(len(others), size=3, replace=False)]
    return Draft(
        scene,
        template.text,
        str(answer),
        [str(i) for i in picked],
        template,
        {"type": "highest_from_end"},
        "I need the number of notes and the highest note's position, then count from the end.",
        [
            _heard(scene),
            f"There are {n} notes and the highest is note {k} from the start.",
            f"{n} - {k} + 1 = {answer}.",
        ],
        f"Counting from the end, the highest note is number {answer}.",
    )


# ---------------------------------------------------------------- triads

T_QUALITY = (
    Template("triad.quality.1", "Is the triad major or minor?"),
    Template("triad.quality.2", "Does the chord sound major or minor?"),
    Template("triad.quality.h", "What is the quality of the triad?", True),
)
T_THIRD = (
    Template(
        "triad.third.1", "How many semitones are there between the lowest and the middle note of the triad?"
    ),
    Template("triad.third.2", "How many semitones separate the root of the triad from its third?"),
    Template("triad.third.h", "What is the size, in semitones, of the triad's lower interval?", True),
)


def triad(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    quality = str(pick(rng, ("major", "minor")))
    scene = triad_meta(quality, rng)
    if difficulty == "easy":
        template = pools.template(rng, T_QUALITY)
        return Draft(
            scene,
            template.text,
            quality,
            ["minor" if quality == "major" else "major"],
            template,
            {"type": "quality"},
            "I need to hear whether the triad is major or minor.",
            [f"The triad sounds {'bright' if quality == 'major' else 'dark'}: {quality}."],
            f"The triad is {quality}.",
        )
    template = pools.template(rng, T_THIRD)
    third = scene["intervals"][0]
    return Draft(
        scene,
        template.text,
        str(third),
        [str(s) for s in (2, 3, 4, 5) if s != third],
        template,
        {"type": "third_semitones"},
        "I need the triad's quality; its lower interval follows from it.",
        [f"The triad is {quality}.", f"A {quality} triad starts with a {quality} third: {third} semitones."],
        f"The lower interval is {third} semitones.",
    )


MUSIC_SUBCATEGORIES: tuple[SubCategory, ...] = (
    SubCategory(
        "music",
        "note counting",
        note_counting,
        {"easy": Level(IE, 4), "medium": Level(REASONING, 4), "hard": Level(REASONING, 4)},
    ),
    SubCategory("music", "melodic contour", contour, {"easy": Level(IE, 3)}),
    SubCategory("music", "tempo", tempo, {"easy": Level(IE, 2)}),
    SubCategory(
        "music", "highest note", highest_note, {"medium": Level(REASONING, 4), "hard": Level(REASONING, 4)}
    ),
    SubCategory("music", "triad quality", triad, {"easy": Level(IE, 2), "medium": Level(REASONING, 4)}),
)
