"""One (ladder row, seed) of the demo: its run config, training, evaluation on both test splits, and its
result folder (`rows/<key>/seed-<n>/`: train/ with metrics.jsonl, eval/test and eval/perception with
metrics.json, result.json with the times)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from audistill.config import RunConfig, load_config
from audistill.demo.ladder import LadderRow
from audistill.demo.settings import DemoSettings
from audistill.demo.stages import fresh, is_done, mark_done, read_marker, stage_key
from audistill.io import atomic_write_json
from audistill.report.table import SeedResult

RESULT_FILE = "result.json"
PERCEPTION_MAX_NEW_TOKENS = 48  # transcripts, emotion names and captions are short


def say(console: Console, text: str) -> None:
    console.print(f"[bold cyan]demo[/] {text}", highlight=False)


def paper_config() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "configs" / "paper.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("configs/paper.yaml not found beside the package")


def row_config(settings: DemoSettings, row: LadderRow, seed: int, student: Path, teacher: Path,
               train_file: Path, out_dir: Path) -> RunConfig:
    """The paper's weights (configs/paper.yaml's objective) with nano-model training settings. The train
    file's relative audio paths resolve against its own folder, as textualize_file wrote them."""
    overrides = [
        f"student.path={student}", "student.dtype=float32", f"textual_teacher.path={teacher}",
        "textual_teacher.dtype=float32", f"data.train={train_file}",
        f"train.output_dir={out_dir}", f"train.seed={seed}", f"train.batch_size={settings.batch_size}",
        "train.grad_accum=1", f"train.lr={settings.lr}", "train.warmup_ratio=0.05",
        f"train.save_every={10**6}", "train.mixed_precision='no'", "train.log_every=1",
        "eval.decoding=greedy", *row.overrides,
    ]
    if settings.max_steps is not None:
        overrides.append(f"train.max_steps={settings.max_steps}")
    else:
        overrides.append(f"train.epochs={settings.train_epochs}")
    return load_config(paper_config(), overrides)


def evaluate_model(model: Path, data: Path, out: Path, settings: DemoSettings, show_progress: bool = True
                   ) -> None:
    """Greedy answers on the reasoning test split (Table 1's columns) and the perception test split
    (emotion UA, transcription WER); each writes predictions.json and metrics.json."""
    from audistill.eval.run import evaluate

    kwargs: dict[str, Any] = {"decoding": "greedy", "batch_size": settings.eval_batch_size,
                              "limit": settings.eval_limit, "show_progress": show_progress}
    evaluate(model, data / "test.json", out / "test", max_new_tokens=settings.eval_max_new_tokens, **kwargs)
    evaluate(model, data / "perception" / "test.json", out / "perception",
             max_new_tokens=PERCEPTION_MAX_NEW_TOKENS, **kwargs)


def row_folder(settings: DemoSettings, row: LadderRow, seed: int) -> Path:
    return settings.out / "rows" / row.key / f"seed-{seed}"


def row_key(settings: DemoSettings, row: LadderRow, seed: int, upstream_key: str) -> str:
    return stage_key("row", upstream_key, row, seed, settings.row_fingerprint())


def row_stage(settings: DemoSettings, row: LadderRow, seed: int, student: Path, teacher: Path,
              train_file: Path | None, data: Path, upstream_key: str, console: Console,
              show_progress: bool = True) -> tuple[SeedResult, bool]:
    """Train (unless the row is the untrained base) and evaluate one (row, seed); reused when finished.
    Returns the result and whether it was reused."""
    folder = row_folder(settings, row, seed)
    key = row_key(settings, row, seed, upstream_key)
    if is_done(folder, key):
        say(console, f"{row.label} (seed {seed}): reusing {folder}")
        return load_seed_result(folder, seed), True
    fresh(folder)
    cpu_start, started = time.process_time(), time.time()
    start = time.perf_counter()
    model = student
    if row.trains:
        if train_file is None:
            raise ValueError(f"ladder row {row.key!r} trains but has no textualized training file")
        cfg = row_config(settings, row, seed, student, teacher, train_file, folder / "train")
        say(console, f"{row.label} (seed {seed}): training")
        from audistill.train import run_distillation

        model = run_distillation(cfg, show_progress=show_progress) / "final"
    train_seconds = time.perf_counter() - start
    say(console, f"{row.label} (seed {seed}): evaluating on test and perception/test")
    evaluate_model(model, data, folder / "eval", settings, show_progress)
    seconds = time.perf_counter() - start
    times = {"seconds": seconds, "train_seconds": train_seconds, "eval_seconds": seconds - train_seconds,
             "cpu_seconds": time.process_time() - cpu_start}
    atomic_write_json(folder / RESULT_FILE, {"row": row.key, "seed": seed, "model": str(model), **times})
    mark_done(folder, key, started=started, finished=time.time(), **times)
    say(console, f"{row.label} (seed {seed}): done in {seconds:.0f} s (train {train_seconds:.0f} s, "
                 f"eval {seconds - train_seconds:.0f} s)")
    return load_seed_result(folder, seed), False


def load_seed_result(folder: Path, seed: int) -> SeedResult:
    reasoning = _read_json(folder / "eval" / "test" / "metrics.json")
    perception = _read_json(folder / "eval" / "perception" / "metrics.json")
    metrics_file = folder / "train" / "metrics.jsonl"
    train = ([json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
             if metrics_file.is_file() else [])
    marker = read_marker(folder)
    return SeedResult(seed, reasoning, perception, train, float(marker.get("seconds", 0.0)),
                      train_seconds=float(marker.get("train_seconds", 0.0)))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable evaluation result ({exc}); delete its row folder to redo it") \
            from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return loaded
