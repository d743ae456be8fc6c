"""The Accelerate training loop: accumulation, normalisation, checkpoints, resume, logging.

- `loop`: `run_distillation(cfg, resume=False) -> Path`, the whole run (also `audistill distill`).
- `setup`: loads the student, the teachers as signal sources and the objective; `DistillModule`.
- `plan`: which examples each optimizer step and process sees (seeded, independent of process count).
- `data`: training views built once up front; batches collated with fresh audio features.
- `checkpoint`: the checkpoint layout, atomic publication, pruning, RNG states, safe loading.
- `resume`: saving and restoring a run's state (weights, projections, optimizer, scheduler, RNG).
- `run_log`: metrics.jsonl, TensorBoard events and the progress bar.
- `export`: `final/`, the trained student as a Hugging Face checkpoint with its projections beside it.
- `teacher_cache`: `audistill cache`, the textual teacher's top-k signals written once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audistill.train.loop import NonFiniteLossError, run_distillation

__all__ = ["NonFiniteLossError", "run_distillation"]


def __getattr__(name: str) -> Any:
    # Lazy: importing audistill.train must not pull in accelerate and transformers.
    if name in __all__:
        from audistill.train import loop

        return getattr(loop, name)
    raise AttributeError(name)
