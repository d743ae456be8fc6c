"""Which examples every optimizer step sees, on every process: deterministic from the seed alone.

Each epoch is a seeded permutation of the training examples (numpy PCG64 seeded with (seed, epoch)).
Optimizer step i of an epoch takes the next `global_batch` examples of it, where

    global_batch = train.batch_size x train.grad_accum x processes

and splits them into micro-batches: micro-step m of process r reads positions
[(m * processes + r) * batch_size, ... + batch_size) of the step's slice. The set of examples behind
an optimizer step therefore depends only on the seed and the global batch, not on how it is split:
one process with batch_size 2 and two processes with batch_size 1 train on the same examples in the
same steps (and, with every loss normalised by the window's token count, on the same loss).

An epoch has floor(examples / global_batch) steps; the few examples left over are skipped that epoch
(a different few each epoch, as the permutation changes). The number of steps is train.max_steps when
set, else floor(train.epochs x steps per epoch), at least 1. A step's position is (epoch, step in epoch),
recomputed from the global step, so resuming needs only the step number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from audistill.config import ConfigError


@dataclass(frozen=True)
class DataPlan:
    num_examples: int
    batch_size: int  # examples per process per micro-batch
    grad_accum: int  # micro-batches per optimizer step
    world_size: int  # processes
    seed: int
    max_steps: int | None = None
    epochs: float = 1.0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"train.seed: must be >= 0, got {self.seed}")
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"data.train: {self.num_examples} example(s) are fewer than one global batch "
                f"(train.batch_size {self.batch_size} x train.grad_accum {self.grad_accum} x "
                f"{self.world_size} process(es) = {self.global_batch})")

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        return self.num_examples // self.global_batch

    @property
    def total_steps(self) -> int:
        if self.max_steps is not None:
            return self.max_steps
        return max(1, int(self.epochs * self.steps_per_epoch))

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, step within the epoch) of global optimizer step `step` (0-based)."""
        return divmod(step, self.steps_per_epoch)

    def order(self, epoch: int) -> list[int]:
        """The seeded permutation of example indices for `epoch`."""
        return _permutation(self.num_examples, self.seed, epoch)

    def step_examples(self, step: int) -> list[int]:
        """Every example index of optimizer step `step`, across all processes and micro-batches."""
        epoch, within = self.position(step)
        start = within * self.global_batch
        return self.order(epoch)[start:start + self.global_batch]

    def micro_batches(self, step: int, rank: int) -> list[list[int]]:
        """Process `rank`'s micro-batches of optimizer step `step`, in accumulation order."""
        if not 0 <= rank < self.world_size:
            raise ValueError(f"rank {rank} outside 0..{self.world_size - 1}")
        chosen = self.step_examples(step)
        b = self.batch_size
        return [chosen[(m * self.world_size + rank) * b:(m * self.world_size + rank + 1) * b]
                for m in range(self.grad_accum)]


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> list[int]:
    rng = np.random.Generator(np.random.PCG64([seed, epoch]))
    return [int(i) for i in rng.permutation(n)]
