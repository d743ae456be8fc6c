"""A short from-scratch training loop (nanoGPT's shape): AdamW, warmup + cosine, clipping, a progress bar.

Batches come from `length_batches`: every epoch the items are shuffled, sorted by length with a little
seeded jitter, cut into batches of similar length (little padding) and the batches shuffled, all from
one seeded generator, so the same seed gives the same steps.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor

from audistill.models.zoo.config import Phase
from audistill.models.zoo.optim import build_optimizers

T = TypeVar("T")


def lr_factor(step: int, phase: Phase) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based)."""
    if step < phase.warmup_steps:
        return (step + 1) / phase.warmup_steps
    span = max(1, phase.steps - phase.warmup_steps)
    progress = min(1.0, (step - phase.warmup_steps) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def length_batches(items: Sequence[T], lengths: Sequence[int], batch_size: int, seed: int,
                   jitter: int = 8) -> Iterator[list[T]]:
    """Endless batches of items of similar length, epoch after epoch, in a seeded order."""
    if not items:
        raise ValueError("no training items")
    rng = random.Random(seed)
    while True:
        keys = [lengths[i] + rng.random() * jitter for i in range(len(items))]
        order = sorted(range(len(items)), key=keys.__getitem__)
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(batches)
        for batch in batches:
            yield [items[i] for i in batch]


@dataclass
class PhaseStats:
    """What one phase did: steps, wall time, and the mean of each logged loss over its last steps."""

    name: str
    steps: int
    seconds: float
    final: dict[str, float] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": round(self.seconds, 1),
                "steps_per_second": round(self.steps_per_second, 3),
                "first_losses": {k: round(v, 4) for k, v in self.first.items()},
                "final_losses": {k: round(v, 4) for k, v in self.final.items()}}


def target_loss(lm_head: torch.nn.Module, hidden: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token cross-entropy over target positions (labels -100 elsewhere), the LM head run on the
    states that predict a target only: the value of HF's `labels=` loss, without the [B, L, V] logits of
    the prompt positions (half of a teacher view's tokens, most of a student view's)."""
    shifted = labels[:, 1:]
    keep = shifted != -100
    logits = lm_head(hidden[:, :-1][keep]).float()
    return torch.nn.functional.cross_entropy(logits, shifted[keep])


StepFn = Callable[[Any], dict[str, Tensor]]


def train_phase(name: str, phase: Phase, parameters: Sequence[tuple[str, torch.nn.Parameter]],
                batches: Iterator[Any], step: StepFn, progress: Any | None = None,
                window: int = 20) -> PhaseStats:
    """Run `phase.steps` optimizer steps on the named `parameters`; `step(batch)` returns named losses,
    "loss" is minimised.

    `progress` is a rich Progress (a bar is added for the phase) or None.
    """
    trainable = [p for _, p in parameters if p.requires_grad]
    optimizers = build_optimizers(parameters, phase.optimizer, phase.lr, phase.weight_decay)
    history: dict[str, list[float]] = {}
    task = progress.add_task(name, total=phase.steps, losses="") if progress is not None else None
    start = time.perf_counter()
    for index in range(phase.steps):
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = phase.lr * lr_factor(index, phase)
        losses = step(next(batches))
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(f"zoo {name}: loss is {loss.item()} at step {index + 1}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for key, value in losses.items():
            history.setdefault(key, []).append(float(value.detach()))
        if progress is not None:
            shown = " ".join(f"{k} {sum(v[-window:]) / len(v[-window:]):.3f}" for k, v in history.items())
            progress.update(task, advance=1, losses=shown)
    seconds = time.perf_counter() - start
    final = {k: sum(v[-window:]) / len(v[-window:]) for k, v in history.items()}
    first = {k: sum(v[:window]) / len(v[:window]) for k, v in history.items()}
    return PhaseStats(name, phase.steps, seconds, final, first)
