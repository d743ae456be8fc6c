"""Wall time per phase of a training step: where a distillation step spends what plain SFT does not.

The trainer marks its phases (textual teacher, acoustic teacher, student forward, objective, backward,
optimizer); a clock that is off, the default, costs a context manager's entry and exit per phase
(about a microsecond). `audistill bench` switches it on for a few extra steps of each variant, after
the timed rounds, so its timings are not disturbed; `train.phase_times` switches it on for a run. On
CUDA each phase boundary synchronises the device (only while the clock runs), so a phase is charged
for its own kernels, not for the ones queued before it.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import torch

STEP_PHASES = ("textual teacher", "acoustic teacher", "student forward", "objective", "backward", "optimizer")


class PhaseClock:
    """Seconds per named phase, one list entry per step (`new_step` opens the next entry)."""

    def __init__(self) -> None:
        self.enabled = False
        self.device: torch.device | None = None
        self.steps: list[dict[str, float]] = []

    def start(self, device: torch.device) -> None:
        self.enabled, self.device, self.steps = True, device, []

    def stop(self) -> None:
        self.enabled = False

    def new_step(self) -> None:
        if self.enabled:
            self.steps.append({})

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._sync()
        started = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            if not self.steps:
                self.steps.append({})
            current = self.steps[-1]
            current[name] = current.get(name, 0.0) + time.perf_counter() - started

    def medians(self) -> dict[str, float]:
        """Median seconds per phase over the recorded steps (a phase missing from a step counts 0)."""
        names = [n for n in STEP_PHASES if any(n in s for s in self.steps)]
        names += sorted({n for s in self.steps for n in s} - set(names))
        return {n: float(statistics.median(s.get(n, 0.0) for s in self.steps)) for n in names}

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
