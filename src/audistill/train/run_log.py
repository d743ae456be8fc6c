"""What a run reports while it trains: metrics.jsonl, TensorBoard events and a progress bar.

`metrics.jsonl` holds one JSON object per logged optimizer step (`train.log_every`): `step` (1-based,
optimizer steps done), `epoch`, `loss` (the weighted objective), the unweighted per-term means `sft`,
`text_top`, `text_layers`, `acoustic` (a term that is off is absent), the per-layer means
(`text_layer/<s>-<t>`, `acoustic_layer/<l>`), `lr` (the student's learning rate of the step), `tokens`
(target tokens in the step, all processes), `audio_positions`, `grad_norm` (before clipping) and
`seconds` (wall time of the step). TensorBoard gets the same scalars under `train/<name>` in
`tensorboard/`. Only the main process writes. On resume both are cut back to the checkpoint's step, so
the steps a killed run logged after its last checkpoint are not counted twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from audistill.io import atomic_write_text

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
BAR_TERMS = ("loss", "sft", "text_top", "text_layers", "acoustic")


def truncate_metrics(path: Path, last_step: int) -> None:
    """Keep the lines of `path` up to `last_step` (whole, parseable lines only)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if isinstance(row, dict) and int(row.get("step", 0)) <= last_step:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


class RunLog:
    """Metrics file, TensorBoard writer and progress bar of one run (inert on non-main processes)."""

    def __init__(self, out: Path, *, main: bool, start_step: int, total_steps: int, resumed: bool,
                 show_progress: bool = True) -> None:
        self.main = main
        self.path = out / METRICS_FILE
        self._handle: Any = None
        self._writer: Any = None
        self._progress: Progress | None = None
        if not main:
            return
        if resumed:
            truncate_metrics(self.path, start_step)
        else:
            self.path.unlink(missing_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        purge = start_step + 1 if resumed else None
        self._writer = SummaryWriter(str(out / TENSORBOARD_DIR), purge_step=purge)
        if show_progress:
            self._progress = Progress(
                TextColumn("[bold]distill[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[terms]}"), console=Console(stderr=True), transient=False)
            self._task = self._progress.add_task("distill", total=total_steps, completed=start_step, terms="")
            self._progress.start()

    def step(self, values: dict[str, Any], write: bool) -> None:
        """One optimizer step done: advance the bar; when `write`, append the metrics line and scalars."""
        if not self.main:
            return
        if self._progress is not None:
            terms = "  ".join(f"{k} {values[k]:.4g}" for k in BAR_TERMS if k in values)
            self._progress.update(self._task, advance=1, terms=terms)
        if write:
            self._handle.write(json.dumps(values) + "\n")
            self._handle.flush()
            step = int(values["step"])
            for name, value in values.items():
                if name != "step" and isinstance(value, int | float):
                    self._writer.add_scalar(f"train/{name}", value, step)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
