"""The demo, end to end on this machine: synth -> zoo -> textualize -> ladder -> eval -> report.

Every stage leaves a marker when it finishes (demo/stages.py), so a rerun reuses the benchmark,
the zoo, the textualization and every finished (row, seed); an interrupted row is redone.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from audistill.config import RunConfig, load_config
from audistill.demo.ladder import LadderRow, ladder, skip_step
from audistill.demo.stages import fresh, is_done, mark_done, read_marker, stage_key
from audistill.io import atomic_write_json
from audistill.report.render import RunInfo, write_report
from audistill.report.table import RowResults, SeedResult
from audistill.run_record import package_versions


@dataclass(frozen=True)
class DemoSettings:
    """What a demo run does; `quick()` and `default()` are the two presets of `audistill demo`."""

    out: Path
    synth_size: str
    zoo_budget: str
    seeds: int = 1
    extended: bool = False
    train_epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    lr: float = 5e-4
    eval_batch_size: int = 32
    eval_max_new_tokens: int = 160
    eval_limit: int | None = None
    data_seed: int = 0

    @classmethod
    def quick(cls, out: Path, **changes: Any) -> DemoSettings:
        return replace(cls(out=out, synth_size="small", zoo_budget="quick", max_steps=8, batch_size=8,
                           eval_max_new_tokens=96, eval_limit=None), **changes)

    @classmethod
    def default(cls, out: Path, **changes: Any) -> DemoSettings:
        return replace(cls(out=out, synth_size="demo", zoo_budget="demo"), **changes)


def _say(console: Console, text: str) -> None:
    console.print(f"[bold cyan]demo[/] {text}", highlight=False)


# ---- stages ---------------------------------------------------------------------------------------


def synth_stage(settings: DemoSettings, console: Console) -> tuple[Path, str]:
    from audistill.synth import generate, settings_for

    folder = settings.out / "data"
    key = stage_key("synth", settings.synth_size, settings.data_seed)
    if is_done(folder, key):
        _say(console, f"benchmark: reusing {folder}")
        return folder, key
    _say(console, f"benchmark: audistill synth --size {settings.synth_size} -> {folder}")
    result = generate(fresh(folder), settings_for(settings.synth_size, settings.data_seed))
    mark_done(folder, key, seconds=result.seconds, counts=result.counts)
    return folder, key


def zoo_stage(settings: DemoSettings, data: Path, data_key: str, console: Console) -> tuple[Path, Path, str]:
    from audistill.models.zoo import build_zoo

    folder = settings.out / "zoo"
    _say(console, f"zoo: nano student and textual teacher ({settings.zoo_budget} budget) -> {folder}")
    result = build_zoo(data, folder, budget=settings.zoo_budget, console=console)
    key = stage_key("zoo", data_key, result.key)
    return Path(result.student), Path(result.teacher), key


def textualize_stage(settings: DemoSettings, data: Path, student: Path, zoo_key: str, mode: str,
                     console: Console) -> Path:
    from audistill.textualize import textualize_file

    folder = settings.out / "text" / mode
    key = stage_key("textualize", zoo_key, mode)
    target = folder / "train.json"
    if is_done(folder, key):
        _say(console, f"textualize ({mode}): reusing {target}")
        return target
    _say(console, f"textualize ({mode}): train split -> {target}")
    fresh(folder)
    textualize_file(data / "train.json", target, mode=mode,
                    model=student if mode.startswith("student") else None, console=console)
    mark_done(folder, key)
    return target


def row_config(settings: DemoSettings, row: LadderRow, seed: int, student: Path, teacher: Path,
               train_file: Path, audio_root: Path, out_dir: Path) -> RunConfig:
    """The paper's weights (configs/paper.yaml's objective) with nano-model training settings."""
    overrides = [
        f"student.path={student}", "student.dtype=float32", f"textual_teacher.path={teacher}",
        "textual_teacher.dtype=float32", f"data.train={train_file}", f"data.audio_root={audio_root}",
        f"train.output_dir={out_dir}", f"train.seed={seed}", f"train.batch_size={settings.batch_size}",
        "train.grad_accum=1", f"train.lr={settings.lr}", "train.warmup_ratio=0.05",
        f"train.save_every={10**6}", "train.mixed_precision='no'", "eval.decoding=greedy",
        *row.overrides,
    ]
    if settings.max_steps is not None:
        overrides.append(f"train.max_steps={settings.max_steps}")
    else:
        overrides.append(f"train.epochs={settings.train_epochs}")
    return load_config(_paper_config(), overrides)


def _paper_config() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "configs" / "paper.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("configs/paper.yaml not found beside the package")


def evaluate_model(model: Path, data: Path, out: Path, settings: DemoSettings) -> tuple[dict, dict]:
    from audistill.eval.run import evaluate

    kwargs: dict[str, Any] = {"decoding": "greedy", "batch_size": settings.eval_batch_size,
                              "max_new_tokens": settings.eval_max_new_tokens, "limit": settings.eval_limit}
    reasoning = evaluate(model, data / "test.json", out / "test", **kwargs)
    perception = evaluate(model, data / "perception" / "test.json", out / "perception",
                          **{**kwargs, "max_new_tokens": 48})
    return reasoning, perception


def row_stage(settings: DemoSettings, row: LadderRow, seed: int, student: Path, teacher: Path,
              train_files: dict[str, Path], data: Path, upstream_key: str, console: Console) -> SeedResult:
    folder = settings.out / "rows" / row.key / f"seed-{seed}"
    key = stage_key("row", upstream_key, asdict(row), seed, asdict(replace(settings, out=Path("."))))
    if is_done(folder, key):
        _say(console, f"{row.label} (seed {seed}): reusing {folder}")
        return _load_seed_result(folder, seed)
    fresh(folder)
    start = time.time()
    model = student
    if row.trains:
        cfg = row_config(settings, row, seed, student, teacher, train_files[row.descriptions], data,
                         folder / "train")
        _say(console, f"{row.label} (seed {seed}): training")
        from audistill.train import run_distillation

        model = run_distillation(cfg, show_progress=True) / "final"
    _say(console, f"{row.label} (seed {seed}): evaluating on test and perception/test")
    evaluate_model(model, data, folder / "eval", settings)
    seconds = time.time() - start
    atomic_write_json(folder / "result.json", {"row": row.key, "seed": seed, "seconds": seconds,
                                                "model": str(model)})
    mark_done(folder, key, seconds=seconds)
    return _load_seed_result(folder, seed)


def _load_seed_result(folder: Path, seed: int) -> SeedResult:
    reasoning = json.loads((folder / "eval" / "test" / "metrics.json").read_text())
    perception = json.loads((folder / "eval" / "perception" / "metrics.json").read_text())
    metrics_file = folder / "train" / "metrics.jsonl"
    train = ([json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
             if metrics_file.is_file() else [])
    seconds = float(read_marker(folder).get("seconds", 0.0)) if (folder / ".stage.json").is_file() else 0.0
    return SeedResult(seed, reasoning, perception, train, seconds)


def _student_layers(student: Path) -> int:
    config = json.loads((student / "config.json").read_text())
    text = config.get("text_config") or config.get("thinker_config", {}).get("text_config") or config
    return int(text["num_hidden_layers"])


# ---- the whole demo --------------------------------------------------------------------------------


def run_demo(settings: DemoSettings, console: Console | None = None) -> dict[str, Path]:
    """Run every stage (reusing finished ones) and write the report; returns the report's paths."""
    console = console or Console()
    started = time.time()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the demo draws its own progress; per-load bars only add noise
    settings.out.mkdir(parents=True, exist_ok=True)
    data, data_key = synth_stage(settings, console)
    student, teacher, zoo_key = zoo_stage(settings, data, data_key, console)
    rows = ladder(skip_step(_student_layers(student)), settings.extended)
    modes = sorted({row.descriptions for row in rows if row.trains})
    train_files = {mode: textualize_stage(settings, data, student, zoo_key, mode, console) for mode in modes}
    results: list[RowResults] = []
    for row in rows:
        seeds = range(settings.seeds) if row.trains else range(1)  # greedy eval of a fixed model
        per_seed = [row_stage(settings, row, seed, student, teacher, train_files, data, zoo_key, console)
                    for seed in seeds]
        results.append(RowResults(row.key, row.label, per_seed, row.beyond_paper))
    seconds = time.time() - started
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:]) or "demo"
    notes = [
        f"Stages reused from an earlier run are not re-timed: this invocation took {seconds / 60:.1f} "
        f"minutes; the rows' own training + evaluation times sum to "
        f"{sum(s.seconds for r in results for s in r.seeds) / 60:.1f} minutes.",
        "Student: the zoo's nano Qwen2-Audio; textual teacher: the zoo's nano Qwen3 (see Models below). "
        "The textual teacher reads the base student's own descriptions of the audio, as in the paper, "
        "except in the oracle row.",
        f"Training per row: {_length(settings)}, batch {settings.batch_size}, lr {settings.lr:g}, "
        "the paper's "
        "weights (JSD, layer weight 0.05, acoustic weight 0.05, SFT weight 0.5).",
    ]
    card = (settings.out / "zoo" / "ZOO.md")
    info = RunInfo(command=f"audistill {argv}", seeds=list(range(settings.seeds)), seconds=seconds,
                   data_card=_card_summary(data / "CARD.md"),
                   zoo_card=card.read_text() if card.is_file() else "", notes=notes,
                   versions=package_versions())
    paths = write_report(results, settings.out, info)
    _say(console, f"report: {paths['md']} and {paths['html']} ({seconds / 60:.1f} min)")
    return paths


def _length(settings: DemoSettings) -> str:
    if settings.max_steps is not None:
        return f"{settings.max_steps} steps"
    return f"{settings.train_epochs:g} epoch(s)"


def _card_summary(card: Path) -> str:
    if not card.is_file():
        return ""
    lines = card.read_text().splitlines()
    return "\n".join(lines[:8]) + f"\n\n(full card: {card.name} in the data folder)"
