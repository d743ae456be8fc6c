"""The demo, end to end on this machine: synth -> zoo -> textualize -> ladder -> eval -> report.

Every stage leaves a marker when it finishes (demo/stages.py), so a rerun reuses the benchmark,
the zoo, the textualization and every finished (row, seed); an interrupted row is redone, an interrupted
textualization goes on from its partial file. The report states the compute time of every stage,
including the ones an earlier invocation did.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from rich.console import Console

from audistill.demo.describe import ParallelDescriber
from audistill.demo.ladder import ladder, skip_step
from audistill.demo.rows import say
from audistill.demo.runner import RowJob, run_jobs
from audistill.demo.settings import DemoSettings
from audistill.demo.stages import begin, fresh, is_done, mark_done, read_marker, stage_key
from audistill.report.render import RunInfo, write_report
from audistill.report.table import RowResults
from audistill.run_record import package_versions
from audistill.runtime import available_cores, torch_threads

__all__ = ["DemoSettings", "run_demo"]


@dataclass
class StageTime:
    """When one stage ran (wall-clock, seconds since the epoch), whichever invocation ran it."""

    name: str
    start: float
    end: float
    reused: bool
    row: bool = False  # a (ladder row, seed), as opposed to synth, zoo or textualization

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @classmethod
    def of_marker(cls, name: str, folder: Path, reused: bool, row: bool = False) -> StageTime:
        marker = read_marker(folder)
        end = float(marker.get("finished", 0.0))
        return cls(name, float(marker.get("started", end)), end, reused, row)


def covered_seconds(times: Sequence[StageTime]) -> float:
    """Wall-clock time covered by the stages' intervals: rows that ran side by side count once."""
    total, reach = 0.0, -math.inf
    for start, end in sorted((t.start, t.end) for t in times):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def synth_stage(settings: DemoSettings, console: Console) -> tuple[Path, str, StageTime]:
    from audistill.synth import generate, settings_for

    folder = settings.out / "data"
    synth = settings_for(settings.synth_size, settings.data_seed)
    if settings.synth_sizes is not None:
        synth = replace(synth, sizes=settings.synth_sizes)
    key = stage_key("synth", synth)
    name = "benchmark (synth)"
    if is_done(folder, key):
        say(console, f"benchmark: reusing {folder}")
        return folder, key, StageTime.of_marker(name, folder, reused=True)
    say(console, f"benchmark: audistill synth --size {settings.synth_size} -> {folder}")
    started = time.time()
    result = generate(fresh(folder), synth)
    mark_done(folder, key, started=started, finished=time.time(), counts=result.counts)
    return folder, key, StageTime.of_marker(name, folder, reused=False)


def zoo_stage(settings: DemoSettings, data: Path, data_key: str, console: Console
              ) -> tuple[Path, Path, str, StageTime]:
    """The zoo caches itself (zoo.json's key covers data, budget and code), so no marker is needed."""
    from audistill.models.zoo import build_zoo

    folder = settings.out / "zoo"
    say(console, f"zoo: nano student and textual teacher ({settings.zoo_budget} budget) -> {folder}")
    started = time.time()
    result = build_zoo(data, folder, budget=settings.zoo_budget, console=console)
    if result.reused:
        end = datetime.fromisoformat(str(result.zoo.get("built_at"))).timestamp()
        seconds = float(result.zoo.get("timings", {}).get("total_seconds", 0.0))
        span = StageTime("model zoo", end - seconds, end, reused=True)
    else:
        span = StageTime("model zoo", started, time.time(), reused=False)
    if not result.passed:
        failed = ", ".join(g["key"] for g in result.zoo.get("gates", []) if not g["passed"])
        say(console, f"[yellow]zoo: gates not met ({failed}); the ladder runs on these models anyway[/]")
    key = stage_key("zoo", data_key, result.key)
    return result.student, result.teacher, key, span


def textualize_stage(settings: DemoSettings, data: Path, student: Path, zoo_key: str, mode: str,
                     console: Console) -> tuple[Path, StageTime]:
    """Descriptions of the train split's audio: by the base student (`student`, as in the paper) or the
    benchmark's ground truth (`oracle`, the extended ladder's upper bound)."""
    from audistill.textualize import textualize_file

    folder = settings.out / "text" / mode
    describer = zoo_key if mode.startswith("student") else "ground truth"
    key = stage_key("textualize", describer, mode, settings.eval_batch_size)
    target = folder / "train.json"
    name = f"textualize ({mode})"
    if is_done(folder, key):
        say(console, f"{name}: reusing {target}")
        return target, StageTime.of_marker(name, folder, reused=True)
    resumed = begin(folder, key)
    say(console, f"{name}: train split -> {target}" + (" (from its partial file)" if resumed else ""))
    started = time.time()
    workers = settings.workers or available_cores()
    if mode == "student" and workers > 1:
        with ParallelDescriber(student, settings.eval_batch_size, workers) as describer:
            textualize_file(data / "train.json", target, mode=mode, console=console, describer=describer,
                            batch_size=settings.eval_batch_size * workers)
    else:
        with torch_threads(1):  # generation: one thread is fastest for the nano student (runner.py)
            textualize_file(data / "train.json", target, mode=mode, batch_size=settings.eval_batch_size,
                            model=student if mode.startswith("student") else None, console=console)
    mark_done(folder, key, started=started, finished=time.time())
    return target, StageTime.of_marker(name, folder, reused=False)


def _student_layers(student: Path) -> int:
    import json

    config = json.loads((student / "config.json").read_text())
    text = config.get("text_config") or config.get("thinker_config", {}).get("text_config") or config
    return int(text["num_hidden_layers"])


def run_demo(settings: DemoSettings, console: Console | None = None) -> dict[str, Path]:
    """Run every stage (reusing finished ones) and write the report; returns the report's paths."""
    console = console or Console()
    started, started_at = time.perf_counter(), time.time()
    load_start = os.getloadavg()[0]
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the demo draws its own progress; per-load bars only add noise
    settings.out.mkdir(parents=True, exist_ok=True)
    data, data_key, synth_time = synth_stage(settings, console)
    student, teacher, zoo_key, zoo_time = zoo_stage(settings, data, data_key, console)
    rows = ladder(skip_step(_student_layers(student)), settings.extended)
    times = [synth_time, zoo_time]
    train_files: dict[str, Path] = {}
    for mode in sorted({row.descriptions for row in rows if row.trains}):
        train_files[mode], text_time = textualize_stage(settings, data, student, zoo_key, mode, console)
        times.append(text_time)
    # The untrained base student is evaluated once: greedy decoding of a fixed model has no seed.
    jobs = [RowJob(settings, row, seed, student, teacher, train_files.get(row.descriptions), data, zoo_key)
            for row in rows for seed in (range(settings.seeds) if row.trains else range(1))]
    workers = settings.workers or available_cores()
    outcomes = run_jobs(jobs, workers, console)
    results: list[RowResults] = []
    for row in rows:
        per_seed = [result for job, (result, _) in zip(jobs, outcomes, strict=True) if job.row == row]
        results.append(RowResults(row.key, row.label, per_seed, row.beyond_paper))
    times += [StageTime.of_marker(job.name, job.folder, reused, row=True)
              for job, (_, reused) in zip(jobs, outcomes, strict=True)]
    invocation = time.perf_counter() - started
    # This invocation's own interval covers the stages it ran (and its set-up and report); the reused
    # stages add the time earlier invocations spent on them.
    total = covered_seconds([*times, StageTime("this invocation", started_at, time.time(), reused=False)])
    loads = (load_start, os.getloadavg()[0])
    info = RunInfo(command=_command(), seeds=list(range(settings.seeds)), seconds=total,
                   data_card=_card_summary(data / "CARD.md"), zoo_card=_zoo_card(settings.out / "zoo"),
                   notes=_notes(settings, results, times, invocation, total, loads, workers),
                   versions=package_versions())
    paths = write_report(results, settings.out, info)
    say(console, f"report: {paths['md']} and {paths['html']} (run time {total / 60:.1f} min, this "
                 f"invocation {invocation / 60:.1f} min)")
    return paths


def _command() -> str:
    argv = sys.argv[1:]
    if argv and argv[0] == "demo":
        return "audistill " + " ".join(shlex.quote(a) for a in argv)
    return "audistill demo (run_demo from Python)"


def _notes(settings: DemoSettings, rows: list[RowResults], times: list[StageTime], invocation: float,
           total: float, loads: tuple[float, float], workers: int) -> list[str]:
    reused = [t for t in times if t.reused]
    per_row = "; ".join(f"{row.key} {_mean(s.seconds for s in row.seeds):.0f} s (train "
                        f"{_mean(s.train_seconds for s in row.seeds):.0f} s)" for row in rows)
    stages = "; ".join(f"{t.name} {t.seconds:.0f} s" for t in times if not t.row)
    return [
        f"Run time: {total / 60:.1f} minutes, the wall-clock time the stages behind this report took "
        f"({workers} row(s) side by side, counted once)"
        + (f"; this invocation took {invocation / 60:.1f} minutes and reused {len(reused)} finished stage(s) "
           "of an earlier one" if reused else "")
        + f". Load average (1 min) at the start and end of this invocation: {loads[0]:.1f}, {loads[1]:.1f} "
        f"on {available_cores()} core(s); other work on the machine slows every stage.",
        f"Stages: {stages}.",
        f"Per row (train + eval on both test splits, mean over seeds): {per_row}.",
        "Student: the zoo's nano Qwen2-Audio; textual teacher: the zoo's nano Qwen3 (see Models below). "
        "The textual teacher reads the base student's own descriptions of the audio, as in the paper, "
        "except in the oracle row.",
        f"Training per row: {settings.length()}, batch {settings.batch_size}, lr {settings.lr:g}, the "
        "paper's weights (JSD, layer weight 0.05, acoustic weight 0.05, SFT weight 0.5). Evaluation: greedy, "
        + ("every test item" if settings.eval_limit is None
           else f"the first {settings.eval_limit} items of each test split") + ".",
    ]


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _zoo_card(folder: Path) -> str:
    card = folder / "ZOO.md"
    return card.read_text() if card.is_file() else ""


def _card_summary(card: Path) -> str:
    if not card.is_file():
        return ""
    lines = card.read_text().splitlines()
    return "\n".join(lines[:8]) + f"\n\n(full card: {card.name} in the data folder)"
