"""`audistill bench`: every measurement in one process and one run, then the JSON record and the tables.

Order: build (or take) the models and write the data rows; write the teacher caches (k = 32, 64, 128)
with the real cache writer; prepare the timed variants (trainer steps, acoustic forwards, ours and
TRL's text-only steps) and time them round-robin; count each one's FLOPs on one more step; record where
each trainer step's time goes with the trainer's phase clock on a few more; release them; measure peak
memory of the LoRA variants, each in a fresh process (`memory.py`).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from audistill.bench.cache_size import build_caches
from audistill.bench.memory import measure_all
from audistill.bench.report import check_goals, print_report
from audistill.bench.settings import BenchSettings
from audistill.bench.timing import Step, count_flops, matmul_rate, round_robin
from audistill.bench.trl_gkd import text_steps
from audistill.bench.variants import (
    MEMORY,
    TIMED,
    TrainerStep,
    acoustic_forwards,
    cache_folder,
    variant_config,
    variant_overrides,
)
from audistill.bench.world import BenchWorld, build_world
from audistill.eval.stats import median_ci
from audistill.io import atomic_write_json
from audistill.models.checkpoint import quiet_hf
from audistill.runtime import torch_threads
from audistill.train.loop import release_run


@contextlib.contextmanager
def _workdir(settings: BenchSettings) -> Iterator[Path]:
    if settings.workdir is not None:
        settings.workdir.mkdir(parents=True, exist_ok=True)
        yield settings.workdir
        return
    folder = Path(tempfile.mkdtemp(prefix="audistill-bench-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Phases:
    """A rich progress bar over the bench's phases (or nothing)."""

    def __init__(self, console: Console | None, total: int) -> None:
        self.bar = None
        self.seconds: dict[str, float] = {}
        self._current: tuple[str, float] | None = None
        if console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=console, transient=True)
            self.task = self.bar.add_task("bench", total=total)

    def __enter__(self) -> _Phases:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def phase(self, text: str | None) -> None:
        """Start phase `text` (None: end the last one); each phase's wall time goes to `seconds`."""
        now = time.perf_counter()
        if self._current is not None:
            name, started = self._current
            self.seconds[name] = now - started
        self._current = (text, now) if text is not None else None
        if self.bar is not None and text is not None:
            self.bar.update(self.task, description=text)

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def run_bench(settings: BenchSettings, out: Path | None = None, console: Console | None = None
              ) -> dict[str, Any]:
    """Run every measurement of `settings`; write the JSON record to `out` (atomically) when given and
    print the tables on `console` when given. Returns the record."""
    load_start = os.getloadavg()
    with torch_threads(settings.threads), _workdir(settings) as workdir:
        rounds = settings.warmup + settings.rounds
        steps_per_round = len(TIMED) + 4
        total = 4 + rounds * (steps_per_round - 1) + steps_per_round + len(MEMORY)
        with _Phases(console, total) as phases:
            result = _measure(settings, workdir, phases)
            phases.phase(None)
    result["bench_seconds"] = {name: round(value, 2) for name, value in phases.seconds.items()}
    result["machine"]["load_average_start"] = list(load_start)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    if out is not None:
        atomic_write_json(out, result)
    if console is not None:
        print_report(result, console)
    return result


def _measure(settings: BenchSettings, workdir: Path, phases: _Phases) -> dict[str, Any]:
    phases.phase("models and data")
    with quiet_hf():
        world = build_world(workdir, settings.shape, settings.student, settings.teacher)
    phases.tick()
    phases.phase("teacher caches")
    ks = tuple(sorted({32, *settings.cache_ks}))
    with quiet_hf():
        sizes = build_caches(variant_config("full_online", world, settings, workdir), ks,
                             {k: cache_folder(workdir, k) for k in ks})
    phases.tick()
    phases.phase("preparing the variants")
    timed, steps, device, geometry = _prepare(world, settings, workdir)
    phases.tick()
    try:
        phases.phase("counting FLOPs (and warming up)")
        flops = {}
        for s in steps:
            flops[s.name] = count_flops(s)
            phases.tick()
        phases.phase("timing (round-robin)")
        rate = matmul_rate(device, geometry["compute_dtype"])
        timings = round_robin(steps, settings.rounds, settings.warmup, device, phases.tick,
                              reference="sft", between=[n for n in TIMED if n != "sft"])
        rate = max(rate, matmul_rate(device, geometry["compute_dtype"]))  # the less disturbed of two
        phases.phase("where the time goes (phase clock)")
        phase_s = {name: step.phase_seconds(settings.phase_steps) for name, step in timed.items()}
        phases.tick()
        tokens = _tokens(timed)
    finally:
        runs = [t.run for t in timed.values()]
        for run in runs[1:]:
            run.accelerator.free_memory()
        release_run(runs[0])  # Accelerate's state is one per process: reset once
        del timed, steps, runs
    phases.phase("peak memory (one process per variant)")
    specs = [{"name": name, "overrides": variant_overrides(name, world, settings, workdir),
              "threads": settings.threads, "steps": settings.memory_steps,
              "frozen_copy": name == "acoustic_copy"} for name in MEMORY]
    memory = measure_all(specs, workdir, phases.tick)
    return _record(settings, world, timings, flops, memory, sizes, tokens, rate, device, geometry, phase_s)


def _prepare(world: BenchWorld, settings: BenchSettings, workdir: Path
             ) -> tuple[dict[str, TrainerStep], list[Step], torch.device, dict[str, Any]]:
    timed: dict[str, TrainerStep] = {}
    with quiet_hf():
        for name in TIMED:
            timed[name] = TrainerStep.prepare(name, variant_config(name, world, settings, workdir))
        online = timed["full_online"]
        teacher, teacher_batch = online.run.parts.teacher, online.batch.teacher
        assert teacher is not None and teacher_batch is not None
        student = timed["sft"].run.parts.student
        text = text_steps(student, teacher, teacher_batch, workdir)
    steps: list[Step] = [*timed.values(), *acoustic_forwards(timed["full_cached"]), *text]
    mixed_precision = timed["sft"].run.accelerator.mixed_precision
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision)
    geometry = {"dtype": student.dtype, "compute_dtype": autocast or student.dtype,
                "student_parameters": _parameters(student.hf_model),
                "teacher_parameters": _parameters(teacher.hf_model), "vocab": student.vocab_size,
                "student_layers": student.num_layers, "teacher_layers": teacher.num_layers}
    return timed, steps, student.device, geometry


def _tokens(timed: dict[str, TrainerStep]) -> dict[str, int]:
    batch = timed["full_online"].batch
    assert batch.teacher is not None
    return {"batch": len(batch.example_ids), "student": int(batch.student.attention_mask.sum()),
            "teacher": int(batch.teacher.attention_mask.sum()), "audio": sum(batch.student.audio_counts()),
            "target": sum(batch.student.target_counts())}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _record(settings: BenchSettings, world: BenchWorld, timings: Any, flops: dict[str, int],
            memory: dict[str, dict[str, Any]], sizes: dict[str, float], tokens: dict[str, int], rate: float,
            device: torch.device, geometry: dict[str, Any], phase_s: dict[str, dict[str, float]]
            ) -> dict[str, Any]:
    steps: dict[str, dict[str, Any]] = {}
    for name in timings.samples:
        stats: dict[str, Any] = dict(timings.summary(name))
        stats["x_sft"] = timings.ratio(name, "sft") if name in TIMED else None
        stats["x_sft_samples"] = timings.relative.get(name)
        stats["x_sft_interval"] = _interval(timings.relative.get(name))
        stats["flops"] = flops.get(name)
        stats["flop_per_s"] = flops[name] / stats["median_s"] if name in flops else None
        steps[name] = stats
    def median(name: str) -> float | None:
        return timings.median(name) if name in timings.samples else None

    def ratio(name: str, reference: str) -> float | None:
        present = name in timings.samples and reference in timings.samples
        return timings.ratio(name, reference) if present else None

    peak = {name: m["peak_bytes"] for name, m in memory.items()}
    result: dict[str, Any] = {
        "sft_step_s": median("sft"),
        "full_online_step_s": median("full_online"),
        "full_cached_step_s": median("full_cached"),
        "full_online_exact_lens_step_s": median("full_online_exact_lens"),
        "full_online_projected_step_s": median("full_online_projected"),
        "ratio_full_online": ratio("full_online", "sft"),
        "ratio_full_cached": ratio("full_cached", "sft"),
        "ratio_full_online_exact_lens": ratio("full_online_exact_lens", "sft"),
        "ratio_full_online_projected": ratio("full_online_projected", "sft"),
        "ratio_full_online_interval": steps.get("full_online", {}).get("x_sft_interval"),
        "ratio_full_cached_interval": steps.get("full_cached", {}).get("x_sft_interval"),
        "peak_mem_ratio_acoustic_copy": _ratio(peak["acoustic_copy"], peak["lora_sft"]),
        "peak_mem_ratio_acoustic_adapter": _ratio(peak["acoustic_adapter"], peak["lora_sft"]),
        "acoustic_truncation_saving": 1.0 - (ratio("acoustic_truncated", "acoustic_full") or 1.0),
        "cache_bytes_per_token": sizes,
        "ratio_vs_trl_gkd": ratio("ours_text_jsd", "trl_gkd"),
        "ours_text_jsd_step_s": median("ours_text_jsd"),
        "trl_gkd_step_s": median("trl_gkd"),
        "flops_per_step": {name: s["flops"] for name, s in steps.items()},
        "achieved_flop_per_s": {name: s["flop_per_s"] for name, s in steps.items()},
        "steps": steps,
        "phase_s": phase_s,
        "peak_memory_bytes": peak,
        "memory_method": next(iter(memory.values()))["method"],
        "tokens": tokens,
        "models": {"student": str(world.student) if not world.built else "tiny Qwen2-Audio (built)",
                   "teacher": str(world.teacher) if not world.built else "tiny Qwen3 (built)",
                   "student_parameters": geometry["student_parameters"],
                   "teacher_parameters": geometry["teacher_parameters"], "vocab": geometry["vocab"],
                   "student_layers": geometry["student_layers"], "teacher_layers": geometry["teacher_layers"],
                   "dtype": str(geometry["dtype"]).replace("torch.", ""),
                   "compute_dtype": str(geometry["compute_dtype"]).replace("torch.", "")},
        "shape": {**settings.shape.as_dict(), "models_built": world.built},  # model sizes: when built
        "settings": {"preset": settings.preset, "rounds": settings.rounds, "warmup": settings.warmup,
                     "memory_steps": settings.memory_steps, "phase_steps": settings.phase_steps,
                     "threads": settings.threads},
        "machine": {"device": _device_name(device), "threads": settings.threads,
                    "cpu_count": os.cpu_count(), "matmul_flop_per_s": rate, "torch": torch.__version__,
                    "python": platform.python_version()},
    }
    result["goals"] = check_goals(result)
    return result


def _interval(samples: list[float] | None) -> dict[str, float] | None:
    """The distribution-free ~95 % interval of a median ratio over rounds (`eval.stats.median_ci`), or None
    without samples or with too few rounds for it."""
    if not samples:
        return None
    ci = median_ci(samples)
    if math.isnan(ci.low):
        return None
    return {"low": ci.low, "high": ci.high, "coverage": ci.coverage}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
