"""The benchmark's small vocabulary, and which names, numbers and templates each split may use.

The vocabulary is kept small on purpose: the demo trains a nano student from scratch to
transcribe this speech, so every word must occur often. The test split of the reasoning set
adds names, numbers and question templates that the train split never uses (the hold-out), so
that test accuracy measures reasoning rather than recall. The perception sets (pretraining of
the student's hearing) use the whole vocabulary in every split: a model cannot transcribe a
word it has never heard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NUMBER_WORDS: dict[int, str] = {
    0: "zero",
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
}
ORDINALS: dict[int, str] = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}

TRAIN_NAMES: tuple[str, ...] = (
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Frank",
    "Grace",
    "Henry",
    "Lucy",
    "Mark",
)
HELD_OUT_NAMES: tuple[str, ...] = ("Olga", "Peter", "Rosa")

HELD_OUT_NUMBERS: tuple[int, ...] = (7, 11)
"""Never spoken, asked, offered or answered in the train (and dev) reasoning split."""

SPOKEN_QUANTITIES: tuple[int, ...] = tuple(range(2, 13))
POINT_VALUES: tuple[int, ...] = (2, 3, 4, 5, 7)
"""Points per sound or note in scoring questions (7 only where held-out numbers are allowed)."""

COUNT_NOUNS: tuple[str, ...] = ("apples", "books", "pens", "cards")
FRUITS: tuple[str, ...] = ("apple", "pear", "plum", "lemon")
THINGS: tuple[str, ...] = ("cup", "hat", "pen", "lamp")

ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("cooked", "cooking"),
    ("read", "reading"),
    ("walked", "walking"),
    ("swam", "swimming"),
    ("painted", "painting"),
    ("sang", "singing"),
    ("danced", "dancing"),
    ("slept", "sleeping"),
)
"""(simple past, gerund) of the activities in spoken stories."""

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")

SENTIMENT_SENTENCES: dict[str, tuple[str, ...]] = {
    "neutral": ("The bus leaves at nine.", "The box is on the table.", "It is Tuesday today."),
    "happy": ("I won the prize today.", "What a lovely day.", "We are going on holiday."),
    "sad": ("I lost my keys again.", "My dog is sick.", "Nobody came to my party."),
    "angry": ("You broke my phone.", "Stop doing that right now.", "I told you to wait."),
}
"""Sentences whose words carry an emotion, independent of the voice that speaks them."""


def article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("ch", "sh", "s")) else "s")


def number_word(n: int) -> str:
    return NUMBER_WORDS[n]


_WORD = re.compile(r"\b\w+\b")
_HELD_OUT_TOKENS: dict[str, int] = {str(n): n for n in HELD_OUT_NUMBERS} | {
    NUMBER_WORDS[n]: n for n in HELD_OUT_NUMBERS
}


def held_out_numbers_in(text: str) -> set[int]:
    """Held-out numbers that occur in `text` as whole words, written as digits or as words."""
    return {_HELD_OUT_TOKENS[tok] for tok in _WORD.findall(text.lower()) if tok in _HELD_OUT_TOKENS}


def held_out_names_in(text: str) -> set[str]:
    return {tok for tok in _WORD.findall(text) if tok in HELD_OUT_NAMES}


@dataclass(frozen=True)
class Template:
    """A question wording. `id` is what meta and CARD.md name it by; held-out ones appear
    only in the test split of the reasoning set."""

    id: str
    text: str
    held_out: bool = False


@dataclass(frozen=True)
class Pools:
    """What one split may draw from.

    allow_held_out: held-out names, numbers and templates may be used (test, perception).
    prefer_held_out: pick a held-out name or template half of the time (test), so that each
    of them shows up often in a small test split.
    """

    allow_held_out: bool
    prefer_held_out: bool

    def names(self, rng: np.random.Generator, k: int) -> list[str]:
        """k distinct names."""
        if not self.allow_held_out:
            return [str(n) for n in rng.choice(TRAIN_NAMES, size=k, replace=False)]
        pool = list(TRAIN_NAMES + HELD_OUT_NAMES)
        if self.prefer_held_out and rng.random() < 0.5:
            first = str(rng.choice(HELD_OUT_NAMES))
            rest = [n for n in pool if n != first]
            names = [first] + [str(n) for n in rng.choice(rest, size=k - 1, replace=False)]
            return [names[i] for i in rng.permutation(k)]
        return [str(n) for n in rng.choice(pool, size=k, replace=False)]

    def allows_number(self, n: int) -> bool:
        return self.allow_held_out or n not in HELD_OUT_NUMBERS

    def quantities(self, rng: np.random.Generator, k: int, low: int = 2, high: int = 12) -> list[int]:
        """k spoken quantities in [low, high] (repeats allowed)."""
        pool = [n for n in SPOKEN_QUANTITIES if low <= n <= high and self.allows_number(n)]
        return [int(x) for x in rng.choice(pool, size=k)]

    def distinct_quantities(
        self, rng: np.random.Generator, k: int, low: int = 2, high: int = 12
    ) -> list[int]:
        pool = [n for n in SPOKEN_QUANTITIES if low <= n <= high and self.allows_number(n)]
        return [int(x) for x in rng.choice(pool, size=k, replace=False)]

    def point_values(self, rng: np.random.Generator, k: int) -> list[int]:
        pool = [v for v in POINT_VALUES if self.allows_number(v)]
        return [int(x) for x in rng.choice(pool, size=k, replace=False)]

    def template(self, rng: np.random.Generator, templates: tuple[Template, ...]) -> Template:
        usable = [t for t in templates if self.allow_held_out or not t.held_out]
        held = [t for t in usable if t.held_out]
        if self.prefer_held_out and held and rng.random() < 0.5:
            return held[int(rng.integers(len(held)))]
        plain = [t for t in usable if not t.held_out] or usable
        return plain[int(rng.integers(len(plain)))]


TRAIN_POOLS = Pools(allow_held_out=False, prefer_held_out=False)
TEST_POOLS = Pools(allow_held_out=True, prefer_held_out=True)
PERCEPTION_POOLS = Pools(allow_held_out=True, prefer_held_out=False)


def pools_for(split: str, perception: bool) -> Pools:
    """Train and dev reasoning splits avoid the hold-out; test prefers it; perception uses all."""
    if perception:
        return PERCEPTION_POOLS
    return TEST_POOLS if split == "test" else TRAIN_POOLS
