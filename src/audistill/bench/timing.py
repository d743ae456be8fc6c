"""Interleaved timing, FLOP counts and the machine's matrix-multiply rate.

Variants are timed round-robin (one step of each, then again, every other round in reverse), so load
from other processes and thermal drift fall on all of them alike; each time is the median over the
rounds. The variants compared with SFT each run between two SFT steps, and their ratio is the median
of their time over the mean of those two neighbours: on a shared machine whose load changes from one
second to the next, that cancels what a ratio of medians would keep. FLOPs are counted
by torch's FlopCounterMode on one extra, untimed step of each variant: the matrix multiplications,
convolutions and attention that actually ran, forward and backward (elementwise work such as
softmaxes is not counted), so recomputed chunks count twice, as they cost twice.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


class Step(Protocol):
    name: str

    def step(self) -> None: ...


@dataclass
class Timings:
    """Seconds per step of each variant, in the order they ran; and, for variants timed between two
    steps of a reference, each of their times over the mean of those two neighbours."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    relative: dict[str, list[float]] = field(default_factory=dict)
    reference: str | None = None

    def median(self, name: str) -> float:
        return float(statistics.median(self.samples[name]))

    def ratio(self, name: str, reference: str) -> float:
        """How many times `reference`'s step `name`'s step takes. For a variant timed between two
        reference steps: the median of its time over theirs (linear drift in load cancels exactly);
        otherwise the median over rounds of this round's time over the reference's."""
        if reference == self.reference and name in self.relative:
            return float(statistics.median(self.relative[name]))
        pairs = zip(self.samples[name], self.samples[reference], strict=True)
        return float(statistics.median(a / b for a, b in pairs))

    def summary(self, name: str) -> dict[str, Any]:
        values = self.samples[name]
        return {"median_s": self.median(name), "min_s": min(values), "max_s": max(values),
                "steps_timed": len(values), "samples_s": list(values)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Step, device: torch.device) -> float:
    _sync(device)
    started = time.perf_counter()
    step.step()
    _sync(device)
    return time.perf_counter() - started


def round_robin(steps: Sequence[Step], rounds: int, warmup: int, device: torch.device,
                tick: Callable[[], None] | None = None, reference: str | None = None,
                between: Collection[str] = ()) -> Timings:
    """Time `rounds` interleaved passes over `steps` after `warmup` untimed ones.

    Every other round runs in reverse order, so drift within a round falls on all variants alike. The
    variants named in `between` each run between two steps of `reference` (one of `steps`), which is
    then timed there and not in a slot of its own: ref, a, ref, b, ref, ..., others.
    """
    timings = Timings({s.name: [] for s in steps}, {name: [] for name in between}, reference)
    by_name = {s.name: s for s in steps}
    if between and reference not in by_name:
        raise ValueError(f"reference step {reference!r} is not among the steps")
    for index in range(warmup + rounds):
        keep = index >= warmup
        order = [s for s in steps if not (between and s.name == reference)]
        if index % 2:
            order.reverse()
        last_reference: float | None = None  # the reference step that ran just before, if any
        for s in order:
            if s.name in between:
                assert reference is not None
                before = last_reference if last_reference is not None else _timed(by_name[reference], device)
                own = _timed(s, device)
                after = _timed(by_name[reference], device)
                if keep:
                    if last_reference is None:
                        timings.samples[reference].append(before)
                    timings.samples[reference].append(after)
                    timings.samples[s.name].append(own)
                    timings.relative[s.name].append(own / ((before + after) / 2))
                last_reference = after
            else:
                own = _timed(s, device)
                if keep:
                    timings.samples[s.name].append(own)
                last_reference = None
            if tick is not None:
                tick()
    return timings


def count_flops(step: Step) -> int:
    """FLOPs of one step (matmuls, convolutions, attention; forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=grouped_query_attention_formulas()) as counter:
        step.step()
    return int(counter.get_total_flops())


def grouped_query_attention_formulas() -> dict[Any, Callable[..., int]]:
    """FLOP formulas of the fused attention kernels that count grouped-query attention (fewer key and value
    heads than query heads, as every Qwen model has) as its key and value heads broadcast to the query's.

    torch before 2.13 counted only equal head counts and failed on CUDA, where transformers hands the fused
    kernels the grouped keys (on CPU it repeats them first). Same figures as torch 2.13's own formulas.
    """
    from torch.utils import flop_counter

    def widened(query: Sequence[int], key: Sequence[int], value: Sequence[int]
                ) -> tuple[Sequence[int], Sequence[int]]:
        if len(query) != 4 or key[1] == query[1]:
            return key, value
        return (key[0], query[1], *key[2:]), (value[0], query[1], *value[2:])

    def forward(query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int],
                *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        key_shape, value_shape = widened(query_shape, key_shape, value_shape)
        return int(flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape))

    def backward(grad_out_shape: Sequence[int], query_shape: Sequence[int], key_shape: Sequence[int],
                 value_shape: Sequence[int], *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        key_shape, value_shape = widened(query_shape, key_shape, value_shape)
        return int(flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape))

    aten = torch.ops.aten
    kernels = ("_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention",
               "_scaled_dot_product_cudnn_attention")
    formulas: dict[Any, Callable[..., int]] = {}
    for name in kernels:
        if hasattr(aten, name):
            formulas[getattr(aten, name)] = forward
        if hasattr(aten, f"{name}_backward"):
            formulas[getattr(aten, f"{name}_backward")] = backward
    return formulas


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
