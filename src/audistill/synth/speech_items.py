"""Spoken reasoning items: arithmetic, comparison, temporal order, item counting, emotion.

Each generator hears one short sentence or two (espeak-ng, random voice and emotion) and asks a
question whose answer needs what was said plus 1 (easy), 2 (medium) or 3 (hard) reasoning steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audistill.synth.items import IE, REASONING, Draft, Level, SubCategory, numeric_distractors, pick
from audistill.synth.lexicon import (
    ACTIVITIES,
    COUNT_NOUNS,
    EMOTIONS,
    FRUITS,
    SENTIMENT_SENTENCES,
    THINGS,
    Pools,
    Template,
    article,
    number_word,
)
from audistill.synth.voices import VOICES

VOICE_CUES: dict[str, str] = {
    "neutral": "even and calm",
    "happy": "high, lively and quick",
    "sad": "low, slow and quiet",
    "angry": "loud, fast and forceful",
}


def speech_scene(
    rng: np.random.Generator, transcript: str, emotion: str | None = None, **content: Any
) -> dict[str, Any]:
    """A spoken clip's ground truth; voice and (unless given) emotion drawn at random."""
    return {
        "kind": "speech",
        "transcript": transcript,
        "emotion": emotion if emotion is not None else str(pick(rng, EMOTIONS)),
        "voice": str(pick(rng, VOICES)),
        "espeak_seed": int(rng.integers(1, 2**31)),
        **content,
    }


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------- arithmetic

T_SUM = (
    Template("arith.sum.1", "How many {noun} do they have together?"),
    Template("arith.sum.2", "What is the total number of {noun}?"),
    Template("arith.sum.h", "If everyone puts their {noun} in one pile, how many {noun} are in it?", True),
)
T_DIFF = (
    Template("arith.diff.1", "How many more {noun} does {more} have than {less}?"),
    Template("arith.diff.2", "By how many {noun} is {more} ahead of {less}?"),
    Template("arith.diff.h", "{less} wants as many {noun} as {more}. How many more does {less} need?", True),
)
T_VALUE = (
    Template(
        "arith.value.1", "Each of the {noun} costs {v} dollars. How many dollars are all the {noun} worth?"
    ),
    Template("arith.value.2", "One of the {noun} costs {v} dollars. What do all of them cost in dollars?"),
    Template(
        "arith.value.h", "At {v} dollars apiece, how many dollars would all their {noun} bring in?", True
    ),
)


def arithmetic(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    noun = str(pick(rng, COUNT_NOUNS))
    k = 2 if difficulty == "easy" else 3
    names = pools.names(rng, k)
    counts = pools.quantities(rng, k, 2, 12 if difficulty != "hard" else 6)
    if difficulty == "easy":
        transcript = (
            f"{names[0]} has {number_word(counts[0])} {noun} "
            f"and {names[1]} has {number_word(counts[1])} {noun}."
        )
    else:
        transcript = (
            f"{names[0]} has {number_word(counts[0])} {noun}, {names[1]} has {number_word(counts[1])} "
            f"and {names[2]} has {number_word(counts[2])}."
        )
    holdings = dict(zip(names, counts, strict=True))
    scene = speech_scene(rng, transcript, holdings=holdings, noun=noun)
    heard = [f"{n} has {c} {noun}." for n, c in holdings.items()]
    total = sum(counts)
    if difficulty == "easy" and counts[0] != counts[1] and rng.random() < 0.5:
        more, less = (names[0], names[1]) if counts[0] > counts[1] else (names[1], names[0])
        answer = holdings[more] - holdings[less]
        template = pools.template(rng, T_DIFF)
        return Draft(
            scene,
            template.text.format(noun=noun, more=more, less=less),
            str(answer),
            numeric_distractors(answer, rng, pools, plausible=[holdings[more], holdings[less], total], low=1),
            template,
            {"type": "difference", "more": more, "less": less},
            f"I need how many {noun} {more} and {less} have, then subtract.",
            [*heard, f"{holdings[more]} - {holdings[less]} = {answer}."],
            f"{more} has {answer} more {noun} than {less}.",
        )
    if difficulty != "hard":
        template = pools.template(rng, T_SUM)
        steps = [*heard]
        running = counts[0]
        for c in counts[1:]:
            steps.append(f"{running} + {c} = {running + c}.")
            running += c
        return Draft(
            scene,
            template.text.format(noun=noun),
            str(total),
            numeric_distractors(total, rng, pools, plausible=[total - counts[-1], *counts], low=2),
            template,
            {"type": "sum"},
            f"I need each person's number of {noun}, then add them up.",
            steps,
            f"Together they have {total} {noun}.",
        )
    value = pools.point_values(rng, 1)[0]
    answer = total * value
    template = pools.template(rng, T_VALUE)
    partial = counts[0] + counts[1]
    return Draft(
        scene,
        template.text.format(noun=noun, v=number_word(value)),
        str(answer),
        numeric_distractors(
            answer, rng, pools, plausible=[total, partial * value, total * value + value], low=2
        ),
        template,
        {"type": "total_value", "value": value},
        f"I need the total number of {noun}, then multiply by the price of {value} dollars.",
        [
            *heard,
            f"{counts[0]} + {counts[1]} = {partial}.",
            f"{partial} + {counts[2]} = {total}.",
            f"{total} x {value} = {answer}.",
        ],
        f"All the {noun} are worth {answer} dollars.",
    )


# ---------------------------------------------------------------- comparison

T_OLDER = (
    Template("cmp.older.1", "Who is older?"),
    Template("cmp.older.2", "Which of the two is older?"),
    Template("cmp.older.h", "Whose birthday cake has more candles?", True),
)
T_YOUNGER = (
    Template("cmp.younger.1", "Who is younger?"),
    Template("cmp.younger.2", "Which of the two is younger?"),
    Template("cmp.younger.h", "Who was born later?", True),
)
T_OLDEST = (
    Template("cmp.oldest.1", "Who is the oldest?"),
    Template("cmp.oldest.2", "Which of the three is the oldest?"),
    Template("cmp.oldest.h", "Who has lived the longest?", True),
)
T_YOUNGEST = (
    Template("cmp.youngest.1", "Who is the youngest?"),
    Template("cmp.youngest.2", "Which of the three is the youngest?"),
    Template("cmp.youngest.h", "Who was born last?", True),
)
T_TALLEST = (
    Template("cmp.tallest.1", "Who is the tallest?"),
    Template("cmp.tallest.2", "Which of the three is the tallest?"),
    Template("cmp.tallest.h", "Who is taller than both others?", True),
)
T_SHORTEST = (
    Template("cmp.shortest.1", "Who is the shortest?"),
    Template("cmp.shortest.2", "Which of the three is the shortest?"),
    Template("cmp.shortest.h", "Who is shorter than both others?", True),
)
T_MIDDLE = (
    Template("cmp.middle.1", "Who is in the middle by height?"),
    Template("cmp.middle.2", "Who is neither the tallest nor the shortest?"),
    Template("cmp.middle.h", "Whose height lies between the other two?", True),
)


def comparison(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty in ("easy", "medium"):
        k = 2 if difficulty == "easy" else 3
        names = pools.names(rng, k)
        ages = pools.distinct_quantities(rng, k, 3, 12)
        said = [f"{names[0]} is {number_word(ages[0])} years old"] + [
            f"{n} is {number_word(a)}" for n, a in zip(names[1:], ages[1:], strict=True)
        ]
        scene = speech_scene(rng, _join(said) + ".", ages=dict(zip(names, ages, strict=True)))
        want_old = bool(rng.random() < 0.5)
        if k == 2:
            template = pools.template(rng, T_OLDER if want_old else T_YOUNGER)
        else:
            template = pools.template(rng, T_OLDEST if want_old else T_YOUNGEST)
        ranked = sorted(names, key=lambda n: scene["ages"][n], reverse=want_old)
        answer = ranked[0]
        word = "older" if want_old else "younger"
        steps = [f"{n} is {scene['ages'][n]}." for n in names]
        if k == 2:
            steps.append(f"{ranked[0]} is {word} than {ranked[1]}.")
        else:
            steps += [f"{ranked[1]} is {word} than {ranked[2]}.", f"{ranked[0]} is {word} than {ranked[1]}."]
        return Draft(
            scene,
            template.text,
            answer,
            [n for n in names if n != answer],
            template,
            {"type": "oldest" if want_old else "youngest"},
            "I need each person's age, then compare them.",
            steps,
            f"{answer} is the {'oldest' if want_old else 'youngest'}." if k == 3 else f"{answer} is {word}.",
        )
    names = pools.names(rng, 3)  # tallest first
    relations = []
    for taller, shorter in ((names[0], names[1]), (names[1], names[2])):
        if rng.random() < 0.5:
            relations.append((f"{taller} is taller than {shorter}.", [taller, "taller", shorter]))
        else:
            relations.append((f"{shorter} is shorter than {taller}.", [shorter, "shorter", taller]))
    if rng.random() < 0.5:
        relations.reverse()
    transcript = " ".join(text for text, _ in relations)
    scene = speech_scene(rng, transcript, relations=[rel for _, rel in relations], height_order=names)
    which = str(pick(rng, ("tallest", "shortest", "middle")))
    template = pools.template(rng, {"tallest": T_TALLEST, "shortest": T_SHORTEST, "middle": T_MIDDLE}[which])
    answer = {"tallest": names[0], "shortest": names[2], "middle": names[1]}[which]
    steps = [f"{text}" for text, _ in relations] + [f"So from tallest to shortest: {', '.join(names)}."]
    return Draft(
        scene,
        template.text,
        answer,
        [n for n in names if n != answer],
        template,
        {"type": which},
        "I need to chain the two height comparisons into one order.",
        steps,
        f"{answer} is the {'one in the middle' if which == 'middle' else which}.",
    )


# ---------------------------------------------------------------- temporal order

T_FIRST = (
    Template("order.first.1", "What did {name} do first?"),
    Template("order.first.2", "Which activity came first?"),
    Template("order.first.h", "What was {name}'s earliest activity?", True),
)
T_LAST = (
    Template("order.last.1", "What did {name} do last?"),
    Template("order.last.2", "Which activity came last?"),
    Template("order.last.h", "What was {name}'s final activity?", True),
)
T_MIDDLE_ACT = (
    Template("order.middle.1", "What did {name} do in between?"),
    Template("order.middle.2", "Which activity came second?"),
    Template("order.middle.h", "What did {name} do neither first nor last?", True),
)


def temporal_order(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    name = pools.names(rng, 1)[0]
    k = 3 if difficulty == "hard" else 2
    picked = [ACTIVITIES[i] for i in rng.choice(len(ACTIVITIES), size=k + 1, replace=False)]
    acts, unused = picked[:k], picked[k]
    past = {p: g for p, g in acts}
    if difficulty == "easy":
        transcript = f"{name} {acts[0][0]}, then {acts[1][0]}."
        relations = [[acts[0][0], "before", acts[1][0]]]
        steps = [f"{name} {acts[0][0]} and then {acts[1][0]}."]
        sequence = [acts[0][0], acts[1][0]]
    elif difficulty == "medium":
        if rng.random() < 0.5:
            transcript = f"{name} {acts[1][0]} after {acts[0][1]}."
        else:
            transcript = f"{name} {acts[0][0]} before {acts[1][1]}."
        relations = [[acts[0][0], "before", acts[1][0]]]
        sequence = [acts[0][0], acts[1][0]]
        steps = [transcript, f"So the order is: {acts[0][0]}, {acts[1][0]}."]
    else:
        # a < b first, then c attached at one end of the chain so the order is total.
        a, b, c = acts
        s1 = f"{name} {b[0]} after {a[1]}." if rng.random() < 0.5 else f"{name} {a[0]} before {b[1]}."
        if rng.random() < 0.5:
            s2, sequence = f"{name} {c[0]} after {b[1]}.", [a[0], b[0], c[0]]
            relations = [[a[0], "before", b[0]], [b[0], "before", c[0]]]
        else:
            s2, sequence = f"{name} {c[0]} before {a[1]}.", [c[0], a[0], b[0]]
            relations = [[a[0], "before", b[0]], [c[0], "before", a[0]]]
        transcript = f"{s1} {s2}"
        steps = [
            f"{past[relations[0][0]].capitalize()} came before {past[relations[0][2]]}.",
            f"{past[relations[1][0]].capitalize()} came before {past[relations[1][2]]}.",
            f"So the order is: {', '.join(sequence)}.",
        ]
    scene = speech_scene(rng, transcript, relations=relations, sequence=sequence)
    which = "middle" if difficulty == "hard" and rng.random() < 1 / 3 else str(pick(rng, ("first", "last")))
    template = pools.template(rng, {"first": T_FIRST, "last": T_LAST, "middle": T_MIDDLE_ACT}[which])
    answer = {"first": sequence[0], "last": sequence[-1], "middle": sequence[1]}[which]
    distractors = [p for p in past if p != answer]
    if difficulty != "hard":
        distractors.append(unused[0])
    return Draft(
        scene,
        template.text.format(name=name),
        answer,
        distractors,
        template,
        {"type": which},
        f"I need the order of {name}'s activities.",
        steps,
        f"{name} {answer} {'in between' if which == 'middle' else which}.",
    )


# ---------------------------------------------------------------- item counting

T_ALL = (
    Template("items.all.1", "How many things did {name} buy?"),
    Template("items.all.2", "How many items are in {name}'s shopping?"),
    Template("items.all.h", "How many items did {name} bring home?", True),
)
T_FRUIT = (
    Template("items.fruit.1", "How many fruits did {name} buy?"),
    Template("items.fruit.2", "How many pieces of fruit are in {name}'s shopping?"),
    Template("items.fruit.h", "How many of {name}'s items are fruits?", True),
)
T_FRUIT_BOTH = (
    Template("items.both.1", "How many fruits did they buy in total?"),
    Template("items.both.2", "How many pieces of fruit did the two buy together?"),
    Template("items.both.h", "Counting both baskets, how many fruits are there?", True),
)


def _basket(rng: np.random.Generator, size: int, min_fruit: int, min_thing: int) -> list[str]:
    while True:
        nouns = [str(n) for n in rng.choice(FRUITS + THINGS, size=size, replace=False)]
        fruit = sum(n in FRUITS for n in nouns)
        if fruit >= min_fruit and size - fruit >= min_thing:
            return nouns


def item_counting(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    if difficulty in ("easy", "medium"):
        name = pools.names(rng, 1)[0]
        size = int(rng.integers(2, 6))
        basket = _basket(rng, size, 1 if difficulty == "medium" else 0, 1 if difficulty == "medium" else 0)
        transcript = f"{name} bought {_join([article(n) for n in basket])}."
        scene = speech_scene(rng, transcript, bought={name: basket})
        fruits = [n for n in basket if n in FRUITS]
        if difficulty == "easy":
            template = pools.template(rng, T_ALL)
            return Draft(
                scene,
                template.text.format(name=name),
                str(size),
                numeric_distractors(size, rng, pools, plausible=[size - 1, size + 1], low=1, high=8),
                template,
                {"type": "count_all"},
                f"I need to count the items {name} bought.",
                [f"{name} bought: {', '.join(basket)}, that is {size} items."],
                f"{name} bought {size} things.",
            )
        template = pools.template(rng, T_FRUIT)
        answer = len(fruits)
        return Draft(
            scene,
            template.text.format(name=name),
            str(answer),
            numeric_distractors(answer, rng, pools, plausible=[size, size - answer], low=0, high=8),
            template,
            {"type": "count_fruit"},
            f"I need to list what {name} bought, then count only the fruits.",
            [
                f"{name} bought: {', '.join(basket)}.",
                f"The fruits are: {', '.join(fruits)}, that is {answer}.",
            ],
            f"{name} bought {answer} fruits.",
        )
    names = pools.names(rng, 2)
    baskets = [_basket(rng, 2, 0, 0) for _ in names]
    while not any(n in FRUITS for b in baskets for n in b):
        baskets = [_basket(rng, 2, 0, 0) for _ in names]
    transcript = " ".join(
        f"{n} bought {_join([article(x) for x in b])}." for n, b in zip(names, baskets, strict=True)
    )
    scene = speech_scene(rng, transcript, bought=dict(zip(names, baskets, strict=True)))
    per = [sum(x in FRUITS for x in b) for b in baskets]
    answer = sum(per)
    template = pools.template(rng, T_FRUIT_BOTH)
    steps = [
        f"{n} bought {', '.join(b)}: {c} {'fruit' if c == 1 else 'fruits'}."
        for n, b, c in zip(names, baskets, per, strict=True)
    ]
    steps.append(f"{per[0]} + {per[1]} = {answer}.")
    return Draft(
        scene,
        template.text,
        str(answer),
        numeric_distractors(answer, rng, pools, plausible=[4, per[0], per[1]], low=0, high=8),
        template,
        {"type": "count_fruit_all"},
        "I need to count each person's fruits, then add them.",
        steps,
        f"They bought {answer} fruits in total.",
    )


# ---------------------------------------------------------------- emotion

T_VOICE = (
    Template("emo.voice.1", "Which emotion does the speaker's voice express?"),
    Template("emo.voice.2", "How does the speaker sound?"),
    Template("emo.voice.h", "What mood does the tone of voice convey?", True),
)
T_AGREE = (
    Template("emo.agree.1", "Do the speaker's words and tone of voice express the same feeling?"),
    Template("emo.agree.2", "Does the tone of voice match what the speaker says?"),
    Template("emo.agree.h", "Are the words and the voice in agreement?", True),
)
T_FEEL = (
    Template("emo.feel.1", "What does the speaker most likely feel?"),
    Template("emo.feel.2", "Judging by everything you hear, how does the speaker really feel?"),
    Template("emo.feel.h", "Which feeling is the speaker actually experiencing?", True),
)


def emotion(rng: np.random.Generator, difficulty: str, pools: Pools) -> Draft:
    voice_emotion = str(pick(rng, EMOTIONS))
    if difficulty == "easy":
        word_emotion = str(pick(rng, EMOTIONS))
    elif difficulty == "medium" and rng.random() < 0.5:
        word_emotion = voice_emotion
    else:
        word_emotion = str(pick(rng, [e for e in EMOTIONS if e != voice_emotion]))
    sentence = str(pick(rng, SENTIMENT_SENTENCES[word_emotion]))
    scene = speech_scene(rng, sentence, emotion=voice_emotion, word_emotion=word_emotion)
    hear_voice = f"The voice is {VOICE_CUES[voice_emotion]}, so it sounds {voice_emotion}."
    hear_words = f'The words "{sentence}" sound {word_emotion}.'
    others = [e for e in EMOTIONS if e != voice_emotion]
    if difficulty == "easy":
        template = pools.template(rng, T_VOICE)
        return Draft(
            scene,
            template.text,
            voice_emotion,
            others,
            template,
            {"type": "voice_emotion"},
            "I need to judge the emotion from the tone of voice.",
            [hear_voice],
            f"The voice sounds {voice_emotion}.",
        )
    if difficulty == "medium":
        agree = word_emotion == voice_emotion
        template = pools.template(rng, T_AGREE)
        answer = "yes" if agree else "no"
        return Draft(
            scene,
            template.text,
            answer,
            ["no" if agree else "yes"],
            template,
            {"type": "agreement"},
            "I need the feeling of the words and the feeling of the voice, then compare them.",
            [
                hear_words,
                hear_voice,
                f"{word_emotion.capitalize()} and {voice_emotion} {'match' if agree else 'differ'}.",
            ],
            f"The words and the voice {'agree' if agree else 'disagree'}.",
        )
    template = pools.template(rng, T_FEEL)
    return Draft(
        scene,
        template.text,
        voice_emotion,
        others,
        template,
        {"type": "true_feeling"},
        "I need the feeling of the words and of the voice; if they disagree, the voice tells the truth.",
        [hear_words, hear_voice, "When words and tone disagree, the tone shows the real feeling."],
        f"The speaker most likely feels {voice_emotion}.",
    )


def _levels(easy: str, n_easy: int, n_medium: int, n_hard: int, medium: str = REASONING) -> dict[str, Level]:
    return {"easy": Level(easy, n_easy), "medium": Level(medium, n_medium), "hard": Level(REASONING, n_hard)}


SPEECH_SUBCATEGORIES: tuple[SubCategory, ...] = (
    SubCategory("speech", "spoken arithmetic", arithmetic, _levels(REASONING, 4, 4, 4)),
    SubCategory("speech", "comparison", comparison, _levels(REASONING, 2, 3, 3)),
    SubCategory("speech", "temporal order", temporal_order, _levels(REASONING, 3, 3, 3)),
    SubCategory("speech", "item counting", item_counting, _levels(IE, 4, 4, 4, medium=IE)),
    SubCategory("speech", "emotion reasoning", emotion, _levels(IE, 4, 2, 4)),
)
