"""The `audistill` command line: thin wrappers that parse options and call one function each."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from audistill.config import ConfigError, describe_fields, dump_config, load_config

app = typer.Typer(
    name="audistill",
    help="Teach audio language models to reason: source- and layer-wise distillation "
    "(arXiv 2509.18579).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect run configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)
TRACEBACK_VARIABLE = "AUDISTILL_TRACEBACK"

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config field, e.g. --set train.lr=2e-5 (repeatable)."),
]


def fail(message: str, code: int = 1, cause: BaseException | None = None) -> None:
    """Print a clear error and exit non-zero. With `cause`, an error raised below us (torch's, say: not
    a ConfigError or ValueError of our own checks) also says how to see where it came from, and
    AUDISTILL_TRACEBACK=1 prints that traceback."""
    traced = bool(os.environ.get(TRACEBACK_VARIABLE))
    if cause is not None and traced:
        err_console.print("".join(traceback.format_exception(cause)), highlight=False, markup=False)
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    if cause is not None and not traced and not isinstance(cause, ConfigError | ValueError):
        err_console.print(f"(set {TRACEBACK_VARIABLE}=1 to see where it was raised)", highlight=False)
    raise typer.Exit(code)


@config_app.command("show")
def config_show(
    config: Annotated[Path | None, typer.Argument(help="YAML config; omitted = defaults.")] = None,
    set_: SetOption = None,
) -> None:
    """Print the resolved config with every default filled in.

    Example: audistill config show configs/paper.yaml --set train.lr=2e-5
    """
    try:
        cfg = load_config(config, set_)
    except ConfigError as exc:
        fail(str(exc))
    sys.stdout.write(dump_config(cfg))


@config_app.command("fields")
def config_fields() -> None:
    """List every config field with its description (what, unit, default, paper value).

    Example: audistill config fields
    """
    for path, text in describe_fields():
        console.print(f"[bold]{path}[/]: {text}", highlight=False)


# Commands of the other rooms are registered below, one function each.


@app.command("score")
def score(
    predictions: Annotated[Path, typer.Argument(help="MMAU-format predictions JSON (or .jsonl).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the breakdown as JSON.")] = False,
) -> None:
    """Score an MMAU-format predictions file from any system by MMAU's word-set rule.

    Reads `model_prediction`, else the <RESPONSE> part of `model_output`; items without a
    prediction count as wrong and as missing. Prints accuracy per task, difficulty and
    sub-category (plus emotion UA and transcription WER in the table when present).

    Example: audistill score runs/eval/predictions.json --json
    """
    import json

    from audistill.eval.display import score_table
    from audistill.eval.metrics import score_records
    from audistill.eval.predictions import PredictionFileError, load_predictions

    try:
        report = score_records(load_predictions(predictions))
    except (PredictionFileError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        console.print(score_table(report, title=f"MMAU word-set accuracy: {predictions}"))


@app.command("layers")
def layers(
    student_layers: Annotated[int, typer.Option("--student-layers", help="Student decoder layers.")],
    teacher_layers: Annotated[int, typer.Option("--teacher-layers", help="Teacher decoder layers.")],
    strategy: Annotated[str, typer.Option(
        "--strategy", help="none | top | proportional | skip | all | pairs.")] = "proportional",
    k: Annotated[int, typer.Option("--k", help="Step of the skip strategy.")] = 7,
    pairs: Annotated[str | None, typer.Option(
        "--pairs", help="Explicit pairs for strategy 'pairs', e.g. 7:9,14:18.")] = None,
) -> None:
    """Print which student layer is matched to which teacher layer (layers numbered from 1).

    Example: audistill layers --student-layers 28 --teacher-layers 36 --strategy skip --k 7
    """
    from rich.table import Table

    from audistill.distill.layer_maps import layer_pairs, parse_pairs

    if pairs and strategy != "pairs":
        fail(f"--pairs is used by --strategy pairs only (got --strategy {strategy})")
    try:
        explicit = parse_pairs(pairs) if pairs else []
        mapped = layer_pairs(strategy, student_layers, teacher_layers, k=k, pairs=explicit,
                             path="layers")
    except ConfigError as exc:
        fail(str(exc))
    console.print(f"strategy {strategy}: {student_layers}-layer student, {teacher_layers}-layer teacher")
    table = Table()
    table.add_column("student layer", justify="right")
    table.add_column("teacher layer", justify="right")
    for student, teacher in mapped:
        table.add_row(str(student), str(teacher))
    console.print(table)
    console.print(f"{len(mapped)} pair(s)")


@app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="Data file: our JSONL, MMAU JSON or CoTA.")],
    format: Annotated[str, typer.Option(
        "--format", help="auto | jsonl | mmau | cota (default: the config's data.format, else auto).")] = "",
    audio_root: Annotated[Path | None, typer.Option(
        "--audio-root", help="Folder relative audio paths are resolved against (default: the file's "
        "folder).")] = None,
    quarantine: Annotated[Path | None, typer.Option(
        "--quarantine", help="Write the bad rows (each with a 'reason') to this JSONL file; exit 0.")] = None,
    max_audio_seconds: Annotated[float | None, typer.Option(
        "--max-audio-seconds", help="Longest usable clip, s (default: data.max_audio_seconds).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Run config whose data section gives the defaults.")] = None,
    set_: SetOption = None,
) -> None:
    """Check every row of a data file; print each bad row (PATH:LINE id reason) and a summary.

    Exits 1 when any row is bad, unless --quarantine is given (then the bad rows go to that file).

    Example: audistill validate data/mmau-test-mini.json --audio-root data --quarantine bad.jsonl
    """
    import json

    from audistill.data.rows import DataError
    from audistill.data.validate_view import run_validate

    # The options are overrides of the data section, so they are checked like any config value
    # (JSON-quoted: a JSON scalar is YAML, and a path stays a string).
    options = {"format": format or None, "audio_root": audio_root and str(audio_root),
               "max_audio_seconds": max_audio_seconds}
    overrides = list(set_ or [])
    overrides += [f"data.{key}={json.dumps(value)}" for key, value in options.items() if value is not None]
    try:
        data = load_config(config, overrides).data
    except ConfigError as exc:
        fail(str(exc))
    try:
        code = run_validate(path, data, quarantine, console)
    except DataError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command("check")
def check(
    config: Annotated[Path, typer.Argument(help="Run config (YAML).")],
    set_: SetOption = None,
    batches: Annotated[int, typer.Option("--batches", min=1, help="Batches of data.train to build.")] = 2,
    forward: Annotated[bool, typer.Option(
        "--forward/--no-forward", help="Run both models once on the first batch.")] = True,
) -> None:
    """Dry run: load student and textual teacher, build the first batches, run the audio guard.

    Prints per example the student, audio, teacher and target tokens, the shared vocabulary and the
    layer pairs; exits 1 with the reasons when anything is inconsistent.

    Example: audistill check configs/paper.yaml --set student.path=/models/Qwen2.5-Omni-7B
    """
    from audistill.check import print_report, run_check

    try:
        cfg = load_config(config, set_)
    except ConfigError as exc:
        fail(str(exc))
    report = run_check(cfg, batches=batches, forward=forward)
    print_report(report, console)
    if not report.ok:
        fail(f"check failed: {len(report.problems)} problem(s)")


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the benchmark into.")],
    size: Annotated[str, typer.Option(help="small (a few hundred items), demo (thousands), full.")] = "small",
    seed: Annotated[int, typer.Option(help="Master seed; the same seed gives byte-identical files.")] = 0,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: up to 2); never changes the output.")
    ] = None,
) -> None:
    """Make the built-in benchmark: spoken, sound and music reasoning items with synthesized audio.

    Example: audistill synth --out data/synth --size demo --seed 0
    """
    from audistill.synth import EspeakError, SynthError, generate, settings_for

    try:
        result = generate(out, settings_for(size, seed), workers=workers)
    except (SynthError, EspeakError) as exc:
        fail(str(exc))
    counts = ", ".join(f"{path} {n}" for path, n in result.counts.items())
    console.print(
        f"wrote {out}: {counts} items in {result.seconds:.1f} s; card: {out / 'CARD.md'}", highlight=False
    )


@app.command("eval")
def eval_(
    model: Annotated[str, typer.Option("--model", help="Checkpoint folder (or hub id): an audio student "
                                       "hears the audio, a text LM reads each item's description.")],
    data: Annotated[Path, typer.Option("--data", help="Data file: MMAU JSON, our JSONL or CoTA.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for predictions.json and metrics.json.")],
    decoding: Annotated[str, typer.Option(
        "--decoding", help="greedy (default) or paper (temperature 0.6, top-k 5, top-p 0.5, seeded).")
    ] = "greedy",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Prompts per batch.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(
        "--max-new-tokens", min=1, help="Generation length limit, tokens.")] = 512,
    seed: Annotated[int, typer.Option("--seed", help="Seed of paper decoding.")] = 0,
    format: Annotated[str, typer.Option("--format", help="auto | jsonl | mmau | cota.")] = "auto",
    audio_root: Annotated[Path | None, typer.Option(
        "--audio-root", help="Folder relative audio paths are resolved against (default: the data "
        "file's folder).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Evaluate the first N items only.")
                     ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    dtype: Annotated[str, typer.Option("--dtype", help="auto, float32, bfloat16 or float16.")] = "auto",
) -> None:
    """Generate answers with a model, score them by MMAU's rule, write predictions and metrics.

    Example: audistill eval --model runs/full/final --data data/synth/test.json --out runs/full/eval
    """
    from audistill.data.rows import DataError
    from audistill.eval.generate import GenerationError
    from audistill.eval.run import run_eval
    from audistill.models.checkpoint import ModelLoadError

    if decoding not in ("greedy", "paper"):
        fail(f"--decoding: expected greedy or paper, got {decoding!r}")
    try:
        run_eval(model, data, out, decoding=decoding, seed=seed, max_new_tokens=max_new_tokens,
                 batch_size=batch_size, format=format,
                 audio_root=audio_root, limit=limit, device=device, dtype=dtype, show_progress=True,
                 console=console)
    except (DataError, GenerationError, ModelLoadError) as exc:
        fail(str(exc))


@app.command("distill")
def distill(
    config: Annotated[Path, typer.Argument(help="Run config (YAML), e.g. configs/paper.yaml.")],
    set_: SetOption = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the newest complete checkpoint in train.output_dir.")] = False,
) -> None:
    """Distil the teachers into the student (SFT + textual KD + acoustic KD, per the config).

    Several processes: `accelerate launch --config_file configs/accelerate/ddp.yaml -m audistill
    distill CONFIG` (GPUs), or `torchrun --nproc_per_node N -m audistill distill CONFIG` (GPUs or
    CPU with gloo). Writes checkpoints/, final/, metrics.jsonl, tensorboard/, config.yaml,
    versions.json and run.json into train.output_dir.

    Example: audistill distill configs/paper.yaml --set student.path=/models/omni --set train.max_steps=100
    """
    from audistill.data.rows import DataError
    from audistill.distill.cache import CacheError
    from audistill.distill.sources import SignalError
    from audistill.models.checkpoint import ModelLoadError
    from audistill.models.trainable import TrainableSetupError
    from audistill.train.checkpoint import CheckpointError
    from audistill.train.loop import NonFiniteLossError, run_distillation
    from audistill.views import AudioGuardError, ViewError

    try:
        cfg = load_config(config, set_)
        out = run_distillation(cfg, resume=resume)
    except (ConfigError, DataError, CacheError, ModelLoadError, TrainableSetupError, CheckpointError,
            NonFiniteLossError, ViewError, AudioGuardError, SignalError) as exc:
        fail(str(exc))
    console.print(f"trained student: {out / 'final'}", highlight=False)


@app.command("cache")
def cache(
    config: Annotated[Path, typer.Argument(help="Run config (YAML) with textual_teacher.cache_dir set.")],
    set_: SetOption = None,
) -> None:
    """Run the textual teacher once over data.train and store its top-k signals for training.

    Resumable: examples in complete shards are skipped. Train on it with
    `--set textual_teacher.source=cache` (top-layer signals only: set textual_teacher.layers.strategy none).

    Example: audistill cache configs/paper.yaml --set textual_teacher.cache_dir=cache/qwen3
    """
    from audistill.data.rows import DataError
    from audistill.distill.cache import CacheError
    from audistill.models.checkpoint import ModelLoadError
    from audistill.train.teacher_cache import build_teacher_cache
    from audistill.views import ViewError

    try:
        cfg = load_config(config, set_)
        folder = build_teacher_cache(cfg)
    except (ConfigError, DataError, CacheError, ModelLoadError, ViewError) as exc:
        fail(str(exc))
    console.print(f"teacher cache: {folder}", highlight=False)


@app.command("textualize")
def textualize(
    data: Annotated[Path, typer.Argument(help="Data file (JSONL, MMAU JSON or CoTA).")],
    out: Annotated[Path, typer.Option("--out", help="Output file (same format as the input).")],
    mode: Annotated[str, typer.Option(help="student | oracle | dsp | student+dsp.")] = "student",
    model: Annotated[Path | None, typer.Option(help="Audio model that describes (student modes).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per batch.")] = 16,
    format: Annotated[str, typer.Option(help="auto | jsonl | mmau | cota.")] = "auto",
    audio_root: Annotated[Path | None, typer.Option(help="Folder relative audio paths start from.")] = None,
) -> None:
    """Write a text description of each clip into its `description` field (resumable).

    Example: audistill textualize data/synth/train.json --model runs/demo/zoo/student --out train.desc.json
    """
    from audistill.data.rows import DataError
    from audistill.textualize import TextualizeError, textualize_file

    try:
        path = textualize_file(data, out, mode=mode, model=model, batch_size=batch_size, format=format,
                               audio_root=audio_root, console=err_console)
    except (TextualizeError, DataError) as exc:
        fail(str(exc))
    console.print(f"wrote {path}", highlight=False)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for data, models, runs and the report.")] = Path(
        "runs/demo"
    ),
    quick: Annotated[bool, typer.Option(help="Tiny settings: a smoke run of every stage (minutes).")] = False,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per row (mean and 95% CI).")] = 1,
    extended: Annotated[bool, typer.Option(help="Add the rows beyond the paper.")] = False,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps per row (default: the "
                                                              "preset's).")] = None,
    eval_limit: Annotated[int | None, typer.Option(min=1, help="Evaluate only the first N items of each "
                                                               "test split (debug).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Rows trained side by side, one torch thread "
                                                            "each (default: one per core).")] = None,
) -> None:
    """Reproduce the paper's ablation ladder end to end: synth, zoo, textualize, train, eval, report.

    A rerun with the same --out reuses every finished stage (benchmark, zoo, descriptions, rows).

    Example: audistill demo --seeds 3 --extended --out runs/demo
    """
    from audistill.demo.pipeline import DemoSettings, run_demo

    preset = DemoSettings.quick if quick else DemoSettings.default
    changes: dict[str, object] = {"seeds": seeds, "extended": extended, "workers": workers}
    if max_steps is not None:
        changes["max_steps"] = max_steps
    if eval_limit is not None:
        changes["eval_limit"] = eval_limit
    try:
        run_demo(preset(out, **changes), console)
    except (ConfigError, ValueError, RuntimeError) as exc:
        fail(str(exc), cause=exc)


@app.command("bench")
def bench(
    quick: Annotated[bool, typer.Option(help="Smaller models and fewer rounds (under 3 minutes on 2 "
                                              "cores).")] = False,
    gpu: Annotated[bool, typer.Option(help="Wider models (width 2,048, batch 8, 500-token traces) on a CUDA "
                                           "device, bf16.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the figures as JSON to this file.")] = None,
    student: Annotated[str | None, typer.Option(help="Student checkpoint (default: a tiny Qwen2-Audio "
                                                     "built here); needs --teacher.")] = None,
    teacher: Annotated[str | None, typer.Option(help="Textual teacher checkpoint sharing the student's "
                                                     "tokenizer; needs --student.")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Torch CPU threads (1: stable figures on a shared "
                                                     "machine).")] = 1,
) -> None:
    """Measure what distillation costs over SFT, peak memory, cache size and the speed against TRL's GKD.

    Example: audistill bench --quick --out bench.json
    """
    import torch

    from audistill.bench import BenchSettings, run_bench

    if (student is None) != (teacher is None):
        fail("--student and --teacher go together (the teacher must share the student's tokenizer)")
    if quick and gpu:
        fail("--quick and --gpu are two presets; choose one")
    if gpu and not torch.cuda.is_available():
        fail("--gpu needs a CUDA device, and torch sees none")
    preset = BenchSettings.quick if quick else BenchSettings.gpu if gpu else BenchSettings.default
    try:
        run_bench(preset(student=student, teacher=teacher, threads=threads), out, console)
    except (ConfigError, ValueError, RuntimeError) as exc:
        fail(str(exc), cause=exc)
    if out is not None:
        console.print(f"wrote {out}", highlight=False)


zoo_app = typer.Typer(help="The demo's own nano models, trained from scratch.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("build")
def zoo_build(
    data: Annotated[Path, typer.Option(
        "--data", help="A benchmark folder made by `audistill synth`.")] = Path("data/synth"),
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for student/, teacher/, zoo.json, ZOO.md.")] = Path("runs/zoo"),
    budget: Annotated[str, typer.Option("--budget", help="demo (the demo's models, about an hour on two "
                                        "cores), quick (a smoke build) or tiny (tests).")] = "demo",
    seed: Annotated[int, typer.Option("--seed", help="Seed of initialisation and data order.")] = 0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Torch threads for training "
                                                "(default: every core).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when the cache key matches.")] = False,
) -> None:
    """Train the nano base student (Qwen2-Audio) and textual teacher (Qwen3), evaluate them, write ZOO.md.

    Cached by a hash of data, config and code: a rerun with nothing changed returns at once.

    Example: audistill zoo build --data data/synth --out runs/zoo --budget demo
    """
    from audistill.data.rows import DataError
    from audistill.models.zoo import ZooDataError, build_zoo

    try:
        result = build_zoo(data, out, budget=budget, seed=seed, threads=threads, force=force, console=console)
    except (ZooDataError, DataError, ValueError) as exc:
        fail(str(exc))
    if not result.passed:
        console.print("[yellow]some gates fail; see ZOO.md[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
