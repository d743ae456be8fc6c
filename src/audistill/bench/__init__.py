"""`audistill bench`: what distillation costs over plain fine-tuning, peak memory, cache size, and TRL.

- `run`: `run_bench(settings, out, console)`, every measurement in one process, the JSON record.
- `settings`: `BenchSettings` and its presets (default, quick, and tiny for the tests).
- `world`: the bench's tiny models of the real classes (or the user's) and its data rows on disk. The tiny
  models are shaped so that the costs next to the model weigh what they do for a 7B student: vocabulary
  V = 21 H (the LM head worth 2.3 decoder layers, as Qwen2.5-Omni-7B's), an audio encoder worth about 4 %
  of the SFT step (its notes give the reasoning).
- `variants`: the measured configurations, each stepped by the trainer's own `optimizer_step`.
- `trl_gkd`: our text-only JSD step against TRL's GKDTrainer step on the same models and batch.
- `timing`: interleaved round-robin timing, FLOP counting, the machine's matmul rate.
- `memory`: peak memory of a step, one fresh process per variant (method in its notes).
- `cache_size`: bytes per target token of the real teacher cache.
- `report`: the goals of issue 8 and the printed tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audistill.bench.run import run_bench
    from audistill.bench.settings import BenchSettings

__all__ = ["BenchSettings", "run_bench"]


def __getattr__(name: str) -> Any:
    # Lazy: `audistill --help` must not import torch.
    if name == "run_bench":
        from audistill.bench.run import run_bench

        return run_bench
    if name == "BenchSettings":
        from audistill.bench.settings import BenchSettings

        return BenchSettings
    raise AttributeError(name)
