"""Interleaved timing, FLOP counts and the machine's matrix-multiply rate.

Variants are timed round-robin (one step of each, then again), so load from other processes and
thermal drift fall on all of them alike; each figure is the median over the rounds. FLOPs are counted
by torch's FlopCounterMode on one extra, untimed step of each variant: the matrix multiplications,
convolutions and attention that actually ran, forward and backward (elementwise work such as
softmaxes is not counted), so recomputed chunks count twice, as they cost twice.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


class Step(Protocol):
    name: str

    def step(self) -> None: ...


@dataclass
class Timings:
    """Seconds per step of each variant, in round order."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return float(statistics.median(self.samples[name]))

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of this round's time of `name` over that of `reference`: the two ran
        moments apart, so load that drifts over the run cancels out of each round's ratio."""
        pairs = zip(self.samples[name], self.samples[reference], strict=True)
        return float(statistics.median(a / b for a, b in pairs))

    def summary(self, name: str) -> dict[str, Any]:
        values = self.samples[name]
        return {"median_s": self.median(name), "min_s": min(values), "max_s": max(values),
                "rounds": len(values), "samples_s": list(values)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def round_robin(steps: Sequence[Step], rounds: int, warmup: int, device: torch.device,
                tick: Callable[[], None] | None = None) -> Timings:
    """Time `rounds` interleaved passes over `steps` after `warmup` untimed ones."""
    timings = Timings({s.name: [] for s in steps})
    for index in range(warmup + rounds):
        for s in steps:
            _sync(device)
            started = time.perf_counter()
            s.step()
            _sync(device)
            if index >= warmup:
                timings.samples[s.name].append(time.perf_counter() - started)
            if tick is not None:
                tick()
    return timings


def count_flops(step: Step) -> int:
    """FLOPs of one step (matmuls, convolutions, attention; forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step.step()
    return int(counter.get_total_flops())


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 1024, repeats: int = 8) -> float:
    """FLOP/s of a square matrix multiply of `size` on `device` (the reference for achieved rates)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(3):
        a @ b
        _sync(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - started) / repeats)
    return 2.0 * size**3 / best
