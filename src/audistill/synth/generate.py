"""`audistill synth`: make the whole benchmark in a folder, in parallel, reproducibly."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audistill.io import atomic_write_json, atomic_write_text
from audistill.synth.build import SPLITS, Job, run_job
from audistill.synth.card import card_text
from audistill.synth.espeak import check_library
from audistill.synth.plan import SIZE_PRESETS, SynthSizes, perception_jobs, reasoning_jobs
from audistill.synth.sound_items import MAX_SCENE_SECONDS


class SynthError(ValueError):
    """A request the generator cannot carry out; the message names the folder or setting."""


@dataclass(frozen=True)
class SynthSettings:
    """Everything that decides the output's bytes (workers and progress do not)."""

    seed: int = 0
    size: str = "small"
    sizes: SynthSizes = field(default_factory=lambda: SIZE_PRESETS["small"])
    sample_rate: int = 16000
    max_seconds: float = 5.0


@dataclass(frozen=True)
class SynthResult:
    out_dir: Path
    counts: dict[str, int]
    seconds: float


def settings_for(size: str, seed: int = 0) -> SynthSettings:
    if size not in SIZE_PRESETS:
        raise SynthError(f"unknown size {size!r}; choose one of {', '.join(SIZE_PRESETS)}")
    return SynthSettings(seed=seed, size=size, sizes=SIZE_PRESETS[size])


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "CARD.md").is_file():
        raise SynthError(
            f"{out} is not empty and holds no audistill synth set (no CARD.md); choose an empty or new folder"
        )


def _jobs(settings: SynthSettings, out: Path) -> dict[tuple[str, str], list[Job]]:
    rate, limit = settings.sample_rate, settings.max_seconds
    jobs = {}
    for split in SPLITS:
        n_r = settings.sizes.reasoning.get(split, 0)
        n_p = settings.sizes.perception.get(split, 0)
        jobs[("reasoning", split)] = reasoning_jobs(split, n_r, settings.seed, str(out), rate, limit)
        jobs[("perception", split)] = perception_jobs(
            split, n_p, settings.seed, str(out / "perception"), rate, limit
        )
    return jobs


def _run(jobs: list[Job], workers: int) -> Iterator[list[dict[str, Any]]]:
    if workers <= 1 or len(jobs) < 64:
        yield from map(run_job, jobs)
        return
    # spawn, not fork: each worker starts its own espeak-ng engine from a clean process.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(32, len(jobs) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(run_job, jobs, chunksize=chunk)


def _remove_stale_audio(folder: Path, keep: set[str]) -> None:
    if folder.is_dir():
        for path in folder.glob("*.wav"):
            if path.name not in keep:
                path.unlink()


def generate(
    out_dir: str | Path, settings: SynthSettings, workers: int | None = None, progress: bool = True
) -> SynthResult:
    """Write train/dev/test.json, perception/*.json, the wavs and CARD.md under `out_dir`."""
    start = time.perf_counter()
    out = Path(out_dir)
    _check_out_dir(out)
    if settings.max_seconds < MAX_SCENE_SECONDS:
        raise SynthError(
            f"max_seconds {settings.max_seconds} is below {MAX_SCENE_SECONDS} s, the length the "
            "sound scenes are laid out for"
        )
    check_library()  # fail early, with the install hint, before any worker starts
    plan = _jobs(settings, out)
    all_jobs = [job for jobs in plan.values() for job in jobs]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    key_of = {id(job): key for key, jobs in plan.items() for job in jobs}
    with Progress(
        TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), disable=not progress
    ) as bar:
        task = bar.add_task("clips", total=len(all_jobs))
        for job, produced in zip(all_jobs, _run(all_jobs, workers), strict=True):
            rows[key_of[id(job)]].extend(produced)
            bar.advance(task)
    counts: dict[str, int] = {}
    for (set_name, split), produced in rows.items():
        if set_name == "perception":
            produced = produced[: settings.sizes.perception.get(split, 0)]
            rows[(set_name, split)] = produced
        path = out / f"{split}.json" if set_name == "reasoning" else out / "perception" / f"{split}.json"
        atomic_write_json(path, produced)
        counts[str(path.relative_to(out))] = len(produced)
    for folder, set_name in ((out / "audio", "reasoning"), (out / "perception" / "audio", "perception")):
        keep = {Path(r["audio_id"]).name for (s, _), rs in rows.items() if s == set_name for r in rs}
        _remove_stale_audio(folder, keep)
    atomic_write_text(out / "CARD.md", card_text(settings, rows))
    return SynthResult(out, counts, time.perf_counter() - start)
