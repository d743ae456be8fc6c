"""What one bench run does: the models' and examples' sizes, how often each step is timed, where it runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audistill.bench.world import FULL_SHAPE, GPU_SHAPE, QUICK_SHAPE, BenchShape

# Sizes of the test preset: seconds, not minutes, and still every code path.
TINY_SHAPE = BenchShape(student_hidden=32, student_layers=2, teacher_hidden=32, teacher_layers=3, heads=4,
                        vocab=1024, encoder_dim=32, encoder_layers=1, audio_window_s=2, audio_seconds=1.0,
                        target_words=8, description_words=6, batch_size=2, examples=4)


@dataclass(frozen=True)
class BenchSettings:
    """One bench run.

    `rounds`: timed round-robin passes over the variants, after the FLOP-counting pass (which warms every
    variant up) and `warmup` more untimed passes; every figure is a median over the rounds. `threads`:
    torch CPU threads (1 gives stable figures on a shared machine). `cache_ks`: the top-k values whose
    cache sizes are measured. `phase_steps`: extra steps of each trainer variant, after the timed rounds,
    that record where the step's time goes (`audistill.train.phase_clock`).
    """

    shape: BenchShape
    rounds: int
    warmup: int = 0
    memory_steps: int = 1
    phase_steps: int = 3
    threads: int = 1
    device: str = "auto"
    student_dtype: str = "auto"  # the run's student.dtype (auto: bf16 on a GPU that has it, else fp32)
    cache_ks: tuple[int, ...] = (32, 64, 128)
    student: str | None = None
    teacher: str | None = None
    workdir: Path | None = None  # None: a temporary folder, removed at the end
    preset: str = "default"

    @classmethod
    def quick(cls, **changes: Any) -> BenchSettings:
        """Fourteen rounds: on the 2-core VM of docs/results/bench-quick.md one round's online-over-SFT
        ratio ranged from 1.17 to 1.79 (42 rounds of three runs): the median of eight has a bootstrap
        standard error of 0.047 there, of fourteen 0.036, and the run takes about 140 of its 180 s."""
        return replace(cls(shape=QUICK_SHAPE, rounds=14, preset="quick"), **changes)

    @classmethod
    def default(cls, **changes: Any) -> BenchSettings:
        return replace(cls(shape=FULL_SHAPE, rounds=5, preset="default"), **changes)

    @classmethod
    def gpu(cls, **changes: Any) -> BenchSettings:
        """Wider models on a CUDA device: fp32 weights under bf16 autocast, as the trainer recommends for full
        fine-tuning (bf16 weights lose updates below their precision)."""
        return replace(cls(shape=GPU_SHAPE, rounds=10, warmup=2, device="cuda", student_dtype="float32",
                           preset="gpu"), **changes)

    @classmethod
    def tiny(cls, **changes: Any) -> BenchSettings:
        """The tests' preset: tiny models, two rounds (figures mean little; every path runs)."""
        return replace(cls(shape=TINY_SHAPE, rounds=2, preset="tiny"), **changes)
