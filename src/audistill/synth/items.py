"""What every reasoning-item generator returns, and the helpers they share.

A generator draws the audio content (the `scene`: ground truth the audio is rendered from) and
one question about it, with its answer, same-kind distractors and the reasoning steps. The
choice order is decided afterwards (`order_choices`) so that answer positions are balanced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audistill.synth.lexicon import Pools, Template


@dataclass
class Draft:
    """One reasoning item before its choices are ordered.

    scene: the audio's ground truth (becomes `meta`, with `query` and `template` added).
    query: the question in machine-readable form, enough to recompute the answer from the scene.
    steps: the reasoning, one short sentence per step.
    """

    scene: dict[str, Any]
    question: str
    answer: str
    distractors: list[str]
    template: Template
    query: dict[str, Any]
    planning: str
    steps: list[str]
    summary: str


Generator = Callable[[np.random.Generator, str, Pools], Draft]


@dataclass(frozen=True)
class Level:
    """One difficulty of a sub-category: its MMAU category and how many choices it offers."""

    category: str
    n_choices: int


@dataclass(frozen=True)
class SubCategory:
    task: str
    name: str
    generate: Generator
    levels: dict[str, Level] = field(default_factory=dict)


IE = "Information Extraction"
REASONING = "Reasoning"


def order_choices(
    answer: str, distractors: Sequence[str], position: int, rng: np.random.Generator
) -> list[str]:
    """The answer at `position`, the distractors in random order around it."""
    others = [distractors[i] for i in rng.permutation(len(distractors))]
    return [*others[:position], answer, *others[position:]]


def numeric_distractors(
    answer: int,
    rng: np.random.Generator,
    pools: Pools,
    k: int = 3,
    plausible: Sequence[int] = (),
    low: int = 0,
    high: int | None = None,
) -> list[str]:
    """k distinct wrong numbers: likely slips (`plausible`, e.g. an operand or a skipped step)
    first, then neighbours within 3 of the answer; all within [low, high] and allowed by `pools`."""

    def ok(n: int) -> bool:
        return n != answer and n >= low and (high is None or n <= high) and pools.allows_number(n)

    slips = list(dict.fromkeys(n for n in plausible if ok(n)))
    slips = [slips[i] for i in rng.permutation(len(slips))][: max(0, k - 1)]
    near = [n for n in range(answer - 3, answer + 4) if ok(n) and n not in slips]
    near = [near[i] for i in rng.permutation(len(near))]
    wide = [n for n in range(answer + 4, answer + 20) if ok(n) and n not in slips]
    chosen = (slips + near + wide)[:k]
    if len(chosen) < k:
        raise ValueError(f"cannot find {k} distractors for {answer} in [{low}, {high}]")
    return [str(n) for n in chosen]


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def sample_without(
    rng: np.random.Generator, options: Sequence[Any], k: int, exclude: Sequence[Any] = ()
) -> list[Any]:
    pool = [o for o in options if o not in exclude]
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


def format_trace(planning: str, caption: str, steps: Sequence[str], summary: str, response: str) -> str:
    """The CoTA four-stage trace with its response, in the exact tag format of the method."""
    return (
        f"<THINK><PLANNING>{planning}</PLANNING><CAPTION>{caption}</CAPTION>"
        f"<REASONING>{' '.join(steps)}</REASONING><SUMMARY>{summary}</SUMMARY></THINK>"
        f"<RESPONSE>{response}</RESPONSE>"
    )
