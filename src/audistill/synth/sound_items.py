"""Sound reasoning items: counting, temporal order, pitch direction, loudness and duration, scoring."""

from __future__ import annotations

from typing import Any

import numpy as np

from audistill.synth.items import (
    IE,
    REASONING,
    Draft,
    Level,
    SubCategory,
    numeric_distractors,
    pick,
    sample_without,
)
from audistill.synth.lexicon import NUMBER_WORDS, ORDINALS, Pools, Template, number_word
from audistill.synth.sounds import (
    LONG_S,
    LOUD_DBFS,
    PLURALS,
    SHORT_S,
    SOFT_DBFS,
    SOUND_KINDS,
    make_event,
    place_events,
)

MAX_SCENE_SECONDS = 5.0
"""Scenes are laid out to fit this; the clip limit of the run is never shorter (checked there)."""


def sound_scene(
    rng: np.random.Generator, events: list[dict[str, Any]], snr_low: float = 18.0
) -> dict[str, Any]:
    duration = place_events(events, rng, MAX_SCENE_SECONDS)
    return {
        "kind": "sounds",
        "events": events,
        "duration": duration,
        "snr_db": round(float(rng.uniform(snr_low, 30.0)), 1),
        "noise_seed": int(rng.integers(2**31)),
    }


def _count_word(n: int, kind: str) -> str:
    return f"{n} {kind if n == 1 else PLURALS[kind]}"


# ---------------------------------------------------------------- counting

T_COUNT = (
    Template("snd.count.1", "How many {plural} do you hear?"),
    Template("snd.count.2", "How many times does a {kind} sound?"),
    Template("snd.count.h", "Count the {plural}: how many are there?", True),
)
T_MORE = (
    Template("snd.more.1", "How many more {plural_a} than {plural_b} are there?"),
    Template("snd.more.2", "By how many do the {plural_a} outnumber the {plural_b}?"),
    Template(
        "snd.more.h", "What is the difference between the number of {plural_a} and of {plural_b}?", True
    ),
)


def _mixed_events(rng: np.random.Generator, counts: dict[str, int]) -> list[dict[str, Any]]:
    kinds = [k for k, c in counts.items() for _ in range(c)]
    return [make_event(kinds[i], rng) for i in rng.permutation(len(kinds))]


def event_counting(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty == "easy":
        kind = str(pick(rng, SOUND_KINDS))
        n = int(rng.integers(1, 7))
        scene = sound_scene(rng, [make_event(kind, rng) for _ in range(n)])
        template = pools.template(rng, T_COUNT)
        return Draft(
            scene,
            template.text.format(kind=kind, plural=PLURALS[kind]),
            str(n),
            numeric_distractors(n, rng, pools, plausible=[n - 1, n + 1], low=1, high=8),
            template,
            {"type": "count", "kind": kind},
            f"I need to count the {PLURALS[kind]}.",
            [f"I hear {_count_word(n, kind)}."],
            f"There {'is' if n == 1 else 'are'} {_count_word(n, kind)}.",
        )
    a_kind, b_kind = sample_without(rng, SOUND_KINDS, 2)
    if difficulty == "medium":
        counts = {a_kind: int(rng.integers(1, 4)), b_kind: int(rng.integers(1, 4))}
    else:
        low = int(rng.integers(1, 3))
        counts = {a_kind: low + int(rng.integers(1, 3)), b_kind: low}
    scene = sound_scene(rng, _mixed_events(rng, counts))
    a, b = counts[a_kind], counts[b_kind]
    heard = f"I hear {_count_word(a, a_kind)} and {_count_word(b, b_kind)}."
    if difficulty == "medium":
        template = pools.template(rng, T_COUNT)
        return Draft(
            scene,
            template.text.format(kind=a_kind, plural=PLURALS[a_kind]),
            str(a),
            numeric_distractors(a, rng, pools, plausible=[a + b, b], low=1, high=8),
            template,
            {"type": "count", "kind": a_kind},
            f"I need to tell the {PLURALS[a_kind]} from the other sounds, then count them.",
            [heard, f"Only the {PLURALS[a_kind]} count: {a}."],
            f"There {'is' if a == 1 else 'are'} {_count_word(a, a_kind)}.",
        )
    template = pools.template(rng, T_MORE)
    return Draft(
        scene,
        template.text.format(plural_a=PLURALS[a_kind], plural_b=PLURALS[b_kind]),
        str(a - b),
        numeric_distractors(a - b, rng, pools, plausible=[a, b, a + b], low=1, high=8),
        template,
        {"type": "count_difference", "more": a_kind, "less": b_kind},
        f"I need to count the {PLURALS[a_kind]} and the {PLURALS[b_kind]}, then subtract.",
        [f"I hear {_count_word(a, a_kind)}.", f"I hear {_count_word(b, b_kind)}.", f"{a} - {b} = {a - b}."],
        f"The {PLURALS[a_kind]} outnumber the {PLURALS[b_kind]} by {a - b}.",
    )


# ---------------------------------------------------------------- temporal order

T_SFIRST = (
    Template("snd.first.1", "Which sound comes first?"),
    Template("snd.first.2", "What do you hear first?"),
    Template("snd.first.h", "Which sound opens the clip?", True),
)
T_SLAST = (
    Template("snd.last.1", "Which sound comes last?"),
    Template("snd.last.2", "What do you hear last?"),
    Template("snd.last.h", "Which sound closes the clip?", True),
)
T_AFTER = (
    Template("snd.after.1", "Which sound comes right after the {ref}?"),
    Template("snd.after.2", "What do you hear immediately after the {ref}?"),
    Template("snd.after.h", "The {ref} is followed directly by which sound?", True),
)
T_BEFORE = (
    Template("snd.before.1", "Which sound comes right before the {ref}?"),
    Template("snd.before.2", "What do you hear immediately before the {ref}?"),
    Template("snd.before.h", "Which sound leads directly into the {ref}?", True),
)
T_BETWEEN = (
    Template("snd.between.1", "Which sound comes between the {a} and the {b}?"),
    Template("snd.between.2", "What do you hear between the {a} and the {b}?"),
    Template("snd.between.h", "Which sound separates the {a} from the {b}?", True),
)


def sound_order(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    n = {"easy": 2, "medium": 3, "hard": 4}[difficulty]
    kinds = sample_without(rng, SOUND_KINDS, n)
    absent = sample_without(rng, SOUND_KINDS, 1, exclude=kinds)
    scene = sound_scene(rng, [make_event(k, rng) for k in kinds])
    order = f"The order is: {', '.join(kinds)}."
    if difficulty == "easy":
        which = str(pick(rng, ("first", "last")))
        template = pools.template(rng, T_SFIRST if which == "first" else T_SLAST)
        answer = kinds[0] if which == "first" else kinds[-1]
        return Draft(
            scene,
            template.text,
            answer,
            [k for k in kinds if k != answer] + absent,
            template,
            {"type": which},
            "I need the order of the sounds.",
            [order],
            f"The {answer} comes {which}.",
        )
    if difficulty == "medium":
        if rng.random() < 0.5:
            ref_i = int(rng.integers(0, 2))
            template, answer, rel = pools.template(rng, T_AFTER), kinds[ref_i + 1], "after"
        else:
            ref_i = int(rng.integers(1, 3))
            template, answer, rel = pools.template(rng, T_BEFORE), kinds[ref_i - 1], "before"
        ref = kinds[ref_i]
        return Draft(
            scene,
            template.text.format(ref=ref),
            answer,
            [k for k in kinds if k not in (ref, answer)] + absent,
            template,
            {"type": rel, "ref": ref},
            f"I need the order of the sounds, then the one right {rel} the {ref}.",
            [order, f"The {ref} is {ORDINALS[ref_i + 1]}.", f"Right {rel} it comes the {answer}."],
            f"The {answer} comes right {rel} the {ref}.",
        )
    mid = int(rng.integers(1, 3))
    a, b = kinds[mid - 1], kinds[mid + 1]
    if rng.random() < 0.5:
        a, b = b, a
    template = pools.template(rng, T_BETWEEN)
    answer = kinds[mid]
    return Draft(
        scene,
        template.text.format(a=a, b=b),
        answer,
        [k for k in kinds if k not in (a, b, answer)] + absent,
        template,
        {"type": "between", "a": a, "b": b},
        f"I need the positions of the {a} and the {b}, then the sound between them.",
        [
            order,
            f"The {a} is {ORDINALS[kinds.index(a) + 1]} and the {b} is {ORDINALS[kinds.index(b) + 1]}.",
            f"Between them is the {answer}.",
        ],
        f"The {answer} comes between the {a} and the {b}.",
    )


# ---------------------------------------------------------------- pitch direction

T_DIRECTION = (
    Template("pitch.dir.1", "Does the chirp rise or fall in pitch?"),
    Template("pitch.dir.2", "Is the chirp's pitch going up or down?"),
    Template("pitch.dir.h", "Which way does the chirp's pitch move?", True),
)
T_WHICH = (
    Template("pitch.which.1", "Which chirp {verb} in pitch?"),
    Template("pitch.which.2", "Of the two chirps, which one {verb}?"),
    Template("pitch.which.h", "Which of the chirps has a pitch that {verb}?", True),
)
T_HOW_MANY = (
    Template("pitch.count.1", "How many of the chirps {verb} in pitch?"),
    Template("pitch.count.2", "How many chirps have a pitch that {verb}?"),
    Template("pitch.count.h", "Count the chirps whose pitch {verb}.", True),
)


def pitch_direction(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty == "easy":
        kind = str(pick(rng, ("rising chirp", "falling chirp")))
        scene = sound_scene(rng, [make_event(kind, rng, duration=float(rng.uniform(0.3, 0.6)))])
        template = pools.template(rng, T_DIRECTION)
        answer = kind.split(" ")[0]
        return Draft(
            scene,
            template.text,
            answer,
            ["falling" if answer == "rising" else "rising"],
            template,
            {"type": "direction"},
            "I need to hear whether the chirp's pitch goes up or down.",
            [f"The pitch goes {'up' if answer == 'rising' else 'down'}: a {kind}."],
            f"The chirp is {answer}.",
        )
    verb = str(pick(rng, ("rises", "falls")))
    verb_plural = verb[:-1]
    target = "rising chirp" if verb == "rises" else "falling chirp"
    other = "falling chirp" if verb == "rises" else "rising chirp"
    if difficulty == "medium":
        kinds = [target, other] if rng.random() < 0.5 else [other, target]
        scene = sound_scene(rng, [make_event(k, rng, duration=float(rng.uniform(0.3, 0.6))) for k in kinds])
        template = pools.template(rng, T_WHICH)
        answer = "the first" if kinds[0] == target else "the second"
        return Draft(
            scene,
            template.text.format(verb=verb),
            answer,
            ["the second" if answer == "the first" else "the first"],
            template,
            {"type": "which_chirp", "direction": target.split(" ")[0]},
            "I need the pitch direction of each chirp.",
            [f"The first is a {kinds[0]}.", f"The second is a {kinds[1]}.", f"So {answer} {verb}."],
            f"{answer.capitalize()} chirp {verb}.",
        )
    kinds = [str(pick(rng, (target, other))) for _ in range(3)]
    scene = sound_scene(rng, [make_event(k, rng, duration=float(rng.uniform(0.3, 0.6))) for k in kinds])
    template = pools.template(rng, T_HOW_MANY)
    answer = kinds.count(target)
    return Draft(
        scene,
        template.text.format(verb=verb),
        str(answer),
        [str(n) for n in range(4) if n != answer],
        template,
        {"type": "count_direction", "direction": target.split(" ")[0]},
        "I need the direction of each of the three chirps, then count.",
        [f"Chirp {i + 1} is {k.split(' ')[0]}." for i, k in enumerate(kinds)]
        + [f"{answer} of them {verb if answer == 1 else verb_plural}."],
        f"{NUMBER_WORDS[answer].capitalize()} of the chirps {verb if answer == 1 else verb_plural}.",
    )


# ---------------------------------------------------------------- loudness and duration

T_LOUDER = (
    Template("level.louder.1", "Which sound is louder?"),
    Template("level.louder.2", "Which of the two {plural} is louder?"),
    Template("level.louder.h", "Which {kind} has more energy?", True),
)
T_LONGER = (
    Template("level.longer.1", "Which sound lasts longer?"),
    Template("level.longer.2", "Which of the two {plural} is longer?"),
    Template("level.longer.h", "Which {kind} is held for more time?", True),
)
T_BOTH = (
    Template("level.both.1", "Is the longer sound also the louder one?"),
    Template("level.both.2", "Does the longer {kind} also sound louder?"),
    Template("level.both.h", "Are the greater length and the greater loudness on the same {kind}?", True),
)
T_LONG_LOUD = (
    Template("level.count.1", "How many sounds are both long and loud?"),
    Template("level.count.2", "How many of the {plural} are long and loud at once?"),
    Template("level.count.h", "Count the {plural} that are both loud and long.", True),
)


def _shaped(kind: str, length: str, loudness: str, rng: np.random.Generator) -> dict[str, Any]:
    event = make_event(
        kind,
        rng,
        duration=LONG_S if length == "long" else SHORT_S,
        level_db=LOUD_DBFS if loudness == "loud" else SOFT_DBFS,
    )
    event["length"], event["loudness"] = length, loudness
    return event


def loudness_duration(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    kind = str(pick(rng, ("beep", "noise burst")))
    fmt = {"kind": kind, "plural": PLURALS[kind]}
    if difficulty == "easy":
        vary = str(pick(rng, ("loudness", "length")))
        first_big = bool(rng.random() < 0.5)
        same = str(pick(rng, ("long", "short") if vary == "loudness" else ("loud", "soft")))
        big, small = ("loud", "soft") if vary == "loudness" else ("long", "short")
        shapes = [big, small] if first_big else [small, big]
        events = [
            _shaped(kind, same if vary == "loudness" else s, s if vary == "loudness" else same, rng)
            for s in shapes
        ]
        scene = sound_scene(rng, events, snr_low=20.0)
        template = pools.template(rng, T_LOUDER if vary == "loudness" else T_LONGER)
        answer = "the first" if first_big else "the second"
        word = "louder" if vary == "loudness" else "longer"
        return Draft(
            scene,
            template.text.format(**fmt),
            answer,
            ["the second" if first_big else "the first"],
            template,
            {"type": word},
            f"I need to compare the {vary} of the two sounds.",
            [f"The first is {shapes[0]} and the second is {shapes[1]}."],
            f"{answer.capitalize()} sound is {word}.",
        )
    if difficulty == "medium":
        long_first = bool(rng.random() < 0.5)
        agree = bool(rng.random() < 0.5)
        lengths = ["long", "short"] if long_first else ["short", "long"]
        louds = [("loud" if (ln == "long") == agree else "soft") for ln in lengths]
        events = [_shaped(kind, ln, ld, rng) for ln, ld in zip(lengths, louds, strict=True)]
        scene = sound_scene(rng, events, snr_low=20.0)
        template = pools.template(rng, T_BOTH)
        longer = "first" if long_first else "second"
        louder = longer if agree else ("second" if long_first else "first")
        answer = "yes" if agree else "no"
        return Draft(
            scene,
            template.text.format(**fmt),
            answer,
            ["no" if agree else "yes"],
            template,
            {"type": "longer_is_louder"},
            "I need which sound is longer and which is louder, then compare.",
            [
                f"The {longer} sound is longer.",
                f"The {louder} sound is louder.",
                f"Both are the {longer} sound." if agree else "They are different sounds.",
            ],
            f"The longer sound is {'also' if agree else 'not'} the louder one.",
        )
    shapes = [(str(pick(rng, ("long", "short"))), str(pick(rng, ("loud", "soft")))) for _ in range(3)]
    scene = sound_scene(rng, [_shaped(kind, ln, ld, rng) for ln, ld in shapes], snr_low=20.0)
    template = pools.template(rng, T_LONG_LOUD)
    answer = sum(ln == "long" and ld == "loud" for ln, ld in shapes)
    return Draft(
        scene,
        template.text.format(**fmt),
        str(answer),
        [str(n) for n in range(4) if n != answer],
        template,
        {"type": "count_long_loud"},
        "I need the length and loudness of each sound, then count those both long and loud.",
        [f"Sound {i + 1} is {ln} and {ld}." for i, (ln, ld) in enumerate(shapes)]
        + [f"{answer} {'is' if answer == 1 else 'are'} both long and loud."],
        f"{NUMBER_WORDS[answer].capitalize()} {'sound is' if answer == 1 else 'sounds are'} "
        "both long and loud.",
    )


# ---------------------------------------------------------------- scoring

T_SCORE1 = (
    Template("score.one.1", "Each {kind} is worth {v} points. How many points do the sounds score?"),
    Template("score.one.2", "Every {kind} earns {v} points. What is the total score?"),
    Template("score.one.h", "Score {v} points per {kind}. What does the clip score?", True),
)
T_SCORE2 = (
    Template(
        "score.two.1",
        "Each {a} is worth {v} points and each {b} is worth {w} points. What is the total score?",
    ),
    Template("score.two.2", "A {a} earns {v} points and a {b} earns {w} points. How many points in total?"),
    Template(
        "score.two.h", "Add {v} points for every {a} and {w} points for every {b}. What is the sum?", True
    ),
)


def scoring(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty == "medium":
        kind = str(pick(rng, SOUND_KINDS))
        n = int(rng.integers(1, 6))
        value = pools.point_values(rng, 1)[0]
        scene = sound_scene(rng, [make_event(kind, rng) for _ in range(n)])
        template = pools.template(rng, T_SCORE1)
        answer = n * value
        return Draft(
            scene,
            template.text.format(kind=kind, v=number_word(value)),
            str(answer),
            numeric_distractors(answer, rng, pools, plausible=[n, (n + 1) * value, (n - 1) * value], low=1),
            template,
            {"type": "score", "values": {kind: value}},
            f"I need to count the {PLURALS[kind]}, then multiply by {value} points.",
            [f"I hear {_count_word(n, kind)}.", f"{n} x {value} = {answer}."],
            f"The sounds score {answer} points.",
        )
    a_kind, b_kind = sample_without(rng, SOUND_KINDS, 2)
    counts = {a_kind: int(rng.integers(1, 4)), b_kind: int(rng.integers(1, 4))}
    v, w = pools.point_values(rng, 2)
    scene = sound_scene(rng, _mixed_events(rng, counts))
    template = pools.template(rng, T_SCORE2)
    a, b = counts[a_kind], counts[b_kind]
    answer = a * v + b * w
    return Draft(
        scene,
        template.text.format(a=a_kind, b=b_kind, v=number_word(v), w=number_word(w)),
        str(answer),
        numeric_distractors(answer, rng, pools, plausible=[a * w + b * v, a + b, a * v, b * w], low=1),
        template,
        {"type": "score", "values": {a_kind: v, b_kind: w}},
        "I need to count each kind of sound, multiply by its points, then add.",
        [
            f"I hear {_count_word(a, a_kind)} and {_count_word(b, b_kind)}.",
            f"{a} x {v} = {a * v} and {b} x {w} = {b * w}.",
            f"{a * v} + {b * w} = {answer}.",
        ],
        f"The total score is {answer} points.",
    )


SOUND_SUBCATEGORIES: tuple[SubCategory, ...] = (
    SubCategory(
        "sound",
        "event counting",
        event_counting,
        {"easy": Level(IE, 4), "medium": Level(IE, 4), "hard": Level(REASONING, 4)},
    ),
    SubCategory(
        "sound",
        "temporal order",
        sound_order,
        {"easy": Level(IE, 3), "medium": Level(REASONING, 3), "hard": Level(REASONING, 3)},
    ),
    SubCategory(
        "sound",
        "pitch direction",
        pitch_direction,
        {"easy": Level(IE, 2), "medium": Level(REASONING, 2), "hard": Level(REASONING, 4)},
    ),
    SubCategory(
        "sound",
        "loudness and duration",
        loudness_duration,
        {"easy": Level(IE, 2), "medium": Level(REASONING, 2), "hard": Level(REASONING, 4)},
    ),
    SubCategory("sound", "scoring", scoring, {"medium": Level(REASONING, 4), "hard": Level(REASONING, 4)}),
)
