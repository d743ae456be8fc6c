"""How many items of which kind each split gets, and where each correct answer goes.

Reasoning items cycle through the tasks (sound, music, speech), within a task through its
sub-categories, within a sub-category through its difficulties: every split is stratified.
Answer positions are balanced within each (task, sub-category, difficulty) of a split: each
block of n consecutive items of a group with n choices puts the answer once at every position,
in an order drawn from the seed.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from audistill.synth.build import SPLITS, SUBCATEGORIES, Job

TASK_ORDER: tuple[str, ...] = ("sound", "music", "speech")
PERCEPTION_CYCLE: tuple[tuple[str, int], ...] = (("speech", 2), ("sound", 1), ("speech", 2), ("music", 1))
"""Perception clips in turn, with how many items each gives (a speech clip is transcribed and
its emotion named): a third transcription, a third emotion, a sixth each sound and music captions."""


@dataclass(frozen=True)
class SynthSizes:
    """Items per split: `reasoning` for train/dev/test.json, `perception` for perception/*.json."""

    reasoning: dict[str, int] = field(default_factory=dict)
    perception: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for set_name, sizes in (("reasoning", self.reasoning), ("perception", self.perception)):
            for split, n in sizes.items():
                if split not in SPLITS:
                    raise ValueError(f"sizes.{set_name}: unknown split {split!r} (use {', '.join(SPLITS)})")
                if n < 0:
                    raise ValueError(f"sizes.{set_name}.{split}: {n} items is negative")

    @property
    def total(self) -> int:
        return sum(self.reasoning.values()) + sum(self.perception.values())


SIZE_PRESETS: dict[str, SynthSizes] = {
    "small": SynthSizes(
        reasoning={"train": 120, "dev": 30, "test": 60},
        perception={"train": 120, "dev": 30, "test": 30},
    ),
    "demo": SynthSizes(
        reasoning={"train": 3000, "dev": 300, "test": 300},
        perception={"train": 4800, "dev": 300, "test": 300},
    ),
    "full": SynthSizes(
        reasoning={"train": 20000, "dev": 1000, "test": 1000},
        perception={"train": 20000, "dev": 1000, "test": 1000},
    ),
}


def _position(seed: int, split: str, group: tuple[str, ...], k: int, n_choices: int) -> int:
    key = zlib.crc32("/".join((split, *group)).encode())
    block = np.random.default_rng([seed, 2, key, k // n_choices]).permutation(n_choices)
    return int(block[k % n_choices])


def reasoning_jobs(
    split: str, n: int, seed: int, out_dir: str, sample_rate: int, max_seconds: float
) -> list[Job]:
    subs_by_task = {t: [s for s in SUBCATEGORIES if s.task == t] for t in TASK_ORDER}
    sub_turn: dict[str, int] = defaultdict(int)
    level_turn: dict[str, int] = defaultdict(int)
    group_count: dict[tuple[str, ...], int] = defaultdict(int)
    jobs = []
    for i in range(n):
        task = TASK_ORDER[i % len(TASK_ORDER)]
        sub = subs_by_task[task][sub_turn[task] % len(subs_by_task[task])]
        sub_turn[task] += 1
        levels = list(sub.levels)
        difficulty = levels[level_turn[sub.name + task] % len(levels)]
        level_turn[sub.name + task] += 1
        group = (task, sub.name, difficulty)
        position = _position(seed, split, group, group_count[group], sub.levels[difficulty].n_choices)
        group_count[group] += 1
        jobs.append(Job("reasoning", split, i, seed, group, position, out_dir, sample_rate, max_seconds))
    return jobs


def perception_jobs(
    split: str, n: int, seed: int, out_dir: str, sample_rate: int, max_seconds: float
) -> list[Job]:
    """Clips until they give at least `n` items (one more when the last is a speech clip)."""
    jobs: list[Job] = []
    items = 0
    while items < n:
        task, gives = PERCEPTION_CYCLE[len(jobs) % len(PERCEPTION_CYCLE)]
        jobs.append(Job("perception", split, len(jobs), seed, (task,), 0, out_dir, sample_rate, max_seconds))
        items += gives
    return jobs
