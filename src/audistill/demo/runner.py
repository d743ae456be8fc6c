"""The ladder's (row, seed) jobs, run side by side in worker processes of one torch thread each.

Why one thread per process: the nano models' matrices are small, so a second torch thread mostly waits for
the first; on a busy machine two threads were 7 times slower than one (measured: 113 s vs 16 s of CPU for
8 steps of the full method). Independent rows are the parallelism that pays: with `workers` processes the
ladder takes about 1/workers of its sequential time. Results do not depend on the worker count (each run
is seeded, and one thread computes in a fixed order).

Live progress: the parent draws one bar per job from the files the job writes as it goes (train/run.json
holds its step count, train/metrics.jsonl one line per step, eval/*/metrics.json per finished split);
each worker's own messages go to `rows/<row>/seed-<n>.log`.
"""

from __future__ import annotations

import multiprocessing
import shutil
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from audistill.demo.ladder import LadderRow
from audistill.demo.rows import row_folder, row_key, row_stage, say
from audistill.demo.settings import DemoSettings
from audistill.demo.stages import MARKER, is_done
from audistill.report.table import SeedResult
from audistill.runtime import torch_threads


@dataclass(frozen=True)
class RowJob:
    """One (row, seed) to run, with everything a worker process needs."""

    settings: DemoSettings
    row: LadderRow
    seed: int
    student: Path
    teacher: Path
    train_file: Path | None
    data: Path
    upstream_key: str

    @property
    def folder(self) -> Path:
        return row_folder(self.settings, self.row, self.seed)

    @property
    def log(self) -> Path:
        return self.folder.with_name(f"{self.folder.name}.log")

    @property
    def name(self) -> str:
        return f"{self.row.key} seed {self.seed}"


def run_jobs(jobs: Sequence[RowJob], workers: int, console: Console) -> list[tuple[SeedResult, bool]]:
    """Every job's result (in the order of `jobs`) and whether it was reused from an earlier run."""
    results: dict[int, tuple[SeedResult, bool]] = {}
    todo = []
    for index, job in enumerate(jobs):
        if is_done(job.folder, row_key(job.settings, job.row, job.seed, job.upstream_key)):
            results[index] = row_stage(job.settings, job.row, job.seed, job.student, job.teacher,
                                       job.train_file, job.data, job.upstream_key, console)
        else:
            todo.append(index)
    if todo:
        say(console, f"ladder: {len(todo)} (row, seed) job(s) to run, {min(workers, len(todo))} at a time "
                     "(one torch thread each)")
    if workers <= 1:
        for number, index in enumerate(todo, 1):
            job = jobs[index]
            say(console, f"[bold]job {number}/{len(todo)}[/]: {job.row.label}, seed {job.seed}")
            with torch_threads(1):
                results[index] = row_stage(job.settings, job.row, job.seed, job.student, job.teacher,
                                           job.train_file, job.data, job.upstream_key, console)
    elif todo:
        for index in todo:  # no stale files of an earlier run in the progress display
            shutil.rmtree(jobs[index].folder, ignore_errors=True)
        # Longest first, so that no worker starts a long row while the other sits idle at the end: rows
        # further down the ladder have more loss terms (cost more per step); the base row only evaluates.
        order = sorted(todo, key=lambda index: (jobs[index].row.trains, index), reverse=True)
        results.update(_in_workers({index: jobs[index] for index in order}, workers, console))
    return [results[index] for index in range(len(jobs))]


def _in_workers(jobs: dict[int, RowJob], workers: int, console: Console
                ) -> dict[int, tuple[SeedResult, bool]]:
    # spawn, not fork: a forked child would inherit the parent's torch thread pool and Accelerate state.
    context = multiprocessing.get_context("spawn")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[phase]}"), TimeElapsedColumn(), console=console)
    results: dict[int, tuple[SeedResult, bool]] = {}
    with progress, ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        bars = {index: progress.add_task(jobs[index].name, total=None, phase="queued", start=False)
                for index in sorted(jobs)}  # the ladder's order; the jobs are submitted in `jobs`' order
        futures: dict[Future[SeedResult], int] = {pool.submit(run_in_worker, job): index
                                                  for index, job in jobs.items()}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for index, job in jobs.items():
                _show(progress, bars[index], job)
            for future in finished:
                index = futures[future]
                job = jobs[index]
                error = future.exception()
                if error is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise RuntimeError(f"demo: {job.row.label} (seed {job.seed}) failed: {error}; its log: "
                                       f"{job.log}") from error
                result = future.result()
                results[index] = (result, False)
                progress.console.print(f"[bold cyan]demo[/] {job.row.label} (seed {job.seed}): done in "
                                       f"{result.seconds:.0f} s (train {result.train_seconds:.0f} s)",
                                       highlight=False)
    return results


def run_in_worker(job: RowJob) -> SeedResult:
    """A worker process's job: one torch thread, messages to the job's log file."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with job.log.open("w", encoding="utf-8") as handle, torch_threads(1):
        console = Console(file=handle, width=120, force_terminal=False)
        try:
            result, _ = row_stage(job.settings, job.row, job.seed, job.student, job.teacher, job.train_file,
                                  job.data, job.upstream_key, console, show_progress=False)
        except BaseException:
            handle.write(traceback.format_exc())  # the parent names this log in its error
            raise
    return result


def _show(progress: Progress, bar: TaskID, job: RowJob) -> None:
    """The job's phase and progress (optimizer steps, then one unit per evaluated split), read from the
    files it has written so far; nothing until the worker has started it (made its folder)."""
    folder = job.folder
    train = folder / "train"
    if not folder.is_dir():
        return
    steps = _total_steps(train / "run.json") if job.row.trains else 0
    evaluated = sum((folder / "eval" / split / "metrics.json").is_file() for split in ("test", "perception"))
    total = None if steps is None else steps + 2
    done = _lines(train / "metrics.jsonl") + evaluated
    if (folder / MARKER).is_file():
        phase = "done"
    elif evaluated:
        phase = "evaluating perception/test"
    elif not job.row.trains or (train / "final").is_dir():
        phase = "evaluating test"
    elif steps is not None:
        phase = "training"
    else:
        phase = "loading"
    task = progress.tasks[[t.id for t in progress.tasks].index(bar)]
    if not task.started:
        progress.start_task(bar)
    progress.update(bar, completed=done, total=total, phase=phase)


def _total_steps(run_json: Path) -> int | None:
    import json

    try:
        return int(json.loads(run_json.read_text())["total_steps"])
    except (OSError, ValueError, KeyError):
        return None


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0
