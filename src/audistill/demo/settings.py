"""What a demo run does: `DemoSettings`, with the `quick` and `default` presets of `audistill demo`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from audistill.synth import SynthSizes

# Fields that do not change what one (row, seed) computes: a rerun with more seeds or the extended rows
# reuses every finished (row, seed).
_NOT_PER_ROW = ("out", "seeds", "extended", "workers")


@dataclass(frozen=True)
class DemoSettings:
    """Benchmark size, zoo budget, per-row training and evaluation settings of a demo run.

    out: folder for data/, zoo/, text/, rows/ and the report. synth_size: a synth preset (small | demo |
    full); synth_sizes: items per split instead of the preset's (tests). zoo_budget: the model zoo's
    budget (demo | quick | tiny). Training per row: train_epochs passes over the reasoning train split,
    or max_steps optimizer steps when set, batch_size examples per step, AdamW at lr. Evaluation: greedy,
    eval_batch_size prompts at a time, eval_max_new_tokens per reasoning answer, the first eval_limit
    items of each test split (None: all of them). workers: (row, seed) jobs run side by side, one torch
    thread each (None: one per core; results do not depend on it).
    """

    out: Path
    synth_size: str
    zoo_budget: str
    seeds: int = 1
    extended: bool = False
    train_epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    # The zoo's student decoder learned at 2e-3. At 5e-4 the SFT-only row ended half an epoch at 2.4 nats
    # per target token and 281 of its 300 test answers looped on the trace's "><" token; at 2e-3 it ended
    # near 1.0 and wrote the trace's stages in order (one run each, seed 0, the 45-minute demo zoo).
    lr: float = 2e-3
    eval_batch_size: int = 32
    eval_max_new_tokens: int = 160
    eval_limit: int | None = None
    data_seed: int = 0
    synth_sizes: SynthSizes | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds: {self.seeds}; at least one seed")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps: {self.max_steps}; at least one step")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers: {self.workers}; at least one")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"eval_limit: {self.eval_limit}; at least one item (None: the whole split)")

    @classmethod
    def quick(cls, out: Path, **changes: Any) -> DemoSettings:
        """A smoke run of every stage in a few minutes: the small benchmark, the quick zoo, 8 steps of 8
        examples per row, the first 30 items of each test split (10 per task; all of perception/test)."""
        return replace(cls(out=out, synth_size="small", zoo_budget="quick", max_steps=8, batch_size=8,
                           eval_max_new_tokens=96, eval_limit=30), **changes)

    @classmethod
    def default(cls, out: Path, **changes: Any) -> DemoSettings:
        """The paper's ladder on the demo benchmark with the demo zoo, sized to 25 minutes on 2 idle cores.

        Half an epoch per row: 93 steps of 16 of the 3000 reasoning train items. Measured on one thread
        (the demo zoo's model sizes, demo data): a step costs 0.7 s (SFT only) to 1.8 s (the full method),
        and a row adds about 25 s of set-up (views of the 3000 items, loading three models) and 30 s of
        evaluation of the full test splits (300 reasoning + 300 perception items, greedy). Two rows run
        side by side, so the six rows take about 8 minutes at half an epoch and about 13.5 at a whole
        one; with the benchmark (1 minute) and the descriptions (about 2), half an epoch leaves the demo zoo
        about 14 of the 25 minutes (it takes 45 here: README, the zoo's section). Every test item is
        evaluated. `audistill demo --max-steps N` trains longer.
        """
        return replace(cls(out=out, synth_size="demo", zoo_budget="demo", train_epochs=0.5, batch_size=16),
                       **changes)

    def row_fingerprint(self) -> dict[str, Any]:
        """The settings one (row, seed) depends on: part of its stage key."""
        return {k: v for k, v in asdict(self).items() if k not in _NOT_PER_ROW}

    def length(self) -> str:
        if self.max_steps is not None:
            return f"{self.max_steps} steps"
        return f"{self.train_epochs:g} epoch(s)"
