"""`audistill eval`: generate answers for a data file, score them, write predictions and metrics.

The model's kind comes from its checkpoint (config.json's model_type, as `audistill.models.load`
reads it): an audio student hears each clip; a text LM reads each example's description in place of
the audio (so every example needs one, and the audio files are not opened).

Writes two files into the output folder, atomically:

- `predictions.json`: MMAU's benchmark layout, one object per input item in input order: the
  item's fields (audio as `audio_id`, relative to the data's audio root when it lies below it;
  unknown fields kept) plus `model_output` (the raw generation, stop token excluded) and
  `model_prediction` (the `<RESPONSE>` part, what MMAU's script reads), and `generation` (tokens
  generated, whether it stopped on its own). `audistill score` reads it back to the same numbers.
- `metrics.json`: the score breakdown (`ScoreReport.to_json(extended=True)`: overall, task,
  difficulty, sub-category, emotion UA, transcription WER), `generation` (how many outputs hit the
  token limit, tokens per second) and `run` (model, data, decoding, seed, package versions, times).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from audistill.config import EvalConfig
from audistill.data.example import Example
from audistill.data.readers import audio_base
from audistill.data.validate import load_dataset
from audistill.data.writers import mmau_row
from audistill.eval.answer import extract_answer
from audistill.eval.generate import (
    DecodingSettings,
    Generation,
    PromptOptions,
    check_descriptions,
    default_view,
    generate,
)
from audistill.eval.metrics import ScoreReport, score_records
from audistill.eval.predictions import parse_records
from audistill.io import atomic_write_json
from audistill.models.adaptor import AudioStudentAdaptor, ModelAdaptor
from audistill.models.checkpoint import detect_family, resolve_checkpoint
from audistill.run_record import package_versions

PREDICTIONS_FILE = "predictions.json"
METRICS_FILE = "metrics.json"


@dataclass
class EvalResult:
    """What one evaluation produced: the rows and metrics written, the score report, the file paths."""

    predictions: list[dict[str, Any]]
    metrics: dict[str, Any]
    report: ScoreReport
    predictions_path: Path
    metrics_path: Path


def prediction_rows(examples: Sequence[Example], generations: Sequence[Generation], base: Path
                    ) -> list[dict[str, Any]]:
    """MMAU-format rows: each item's fields plus model_output, model_prediction and generation stats."""
    rows = []
    for example, generation in zip(examples, generations, strict=True):
        if example.id != generation.example_id:
            raise RuntimeError(f"generation for {generation.example_id!r} paired with example {example.id!r}")
        row = mmau_row(example, base)
        row["model_output"] = generation.text
        row["model_prediction"] = extract_answer(generation.text)
        row["generation"] = {"new_tokens": generation.new_tokens, "stopped": generation.stopped}
        rows.append(row)
    return rows


def generation_summary(generations: Sequence[Generation], seconds: float) -> dict[str, Any]:
    """How generation went: outputs that stopped on their own vs hit the token limit, speed."""
    new_tokens = sum(g.new_tokens for g in generations)
    n = len(generations)
    return {
        "n": n,
        "stopped": sum(g.stopped for g in generations),
        "hit_token_limit": sum(not g.stopped for g in generations),
        "mean_new_tokens": new_tokens / n if n else 0.0,
        "mean_prompt_tokens": sum(g.prompt_tokens for g in generations) / n if n else 0.0,
        "seconds": seconds,
        "new_tokens_per_second": new_tokens / seconds if seconds > 0 else None,
    }


def _settings(decoding: str | DecodingSettings, config: EvalConfig, seed: int,
              max_new_tokens: int | None) -> DecodingSettings:
    if isinstance(decoding, DecodingSettings):
        return decoding
    return DecodingSettings.from_config(config, seed=seed, mode=decoding, max_new_tokens=max_new_tokens)


def _is_text_model(model_path: str | None, adaptor: ModelAdaptor | None) -> bool:
    if adaptor is not None:
        return not isinstance(adaptor, AudioStudentAdaptor)
    if model_path is None:
        raise ValueError("evaluate needs model_path or an already loaded adaptor")
    return detect_family(resolve_checkpoint(model_path, "--model"), "--model") == "causal_lm"


def run_eval(
    model_path: str | Path | None,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    adaptor: ModelAdaptor | None = None,
    decoding: str | DecodingSettings | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    max_new_tokens: int | None = None,
    config: EvalConfig | None = None,
    format: str = "auto",
    audio_root: str | Path | None = None,
    limit: int | None = None,
    prompts: PromptOptions | None = None,
    device: str = "auto",
    dtype: str = "auto",
    show_progress: bool = False,
    console: Console | None = None,
) -> EvalResult:
    """Evaluate a model (a checkpoint path, or an already loaded `adaptor`) on a data file.

    Decoding, batch size and token limit default to `config` (an EvalConfig; default: its defaults);
    `decoding` is "greedy", "paper" or full DecodingSettings. With a `console`, the score table and
    the written paths are printed.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    config = config or EvalConfig()
    settings = _settings(decoding or config.decoding, config, seed, max_new_tokens)
    batch = batch_size or config.batch_size
    prompts = prompts or PromptOptions()
    model_name = str(model_path) if model_path is not None else (adaptor.path if adaptor else "")
    text_model = _is_text_model(str(model_path) if model_path is not None else None, adaptor)

    # Data first: a bad row or a missing description fails before minutes of model loading.
    examples = load_dataset(data_path, format, audio_root, check_audio=not text_model, max_rows=limit,
                            show_progress=show_progress)
    if text_model:
        check_descriptions(examples, prompts.description_field)
    if adaptor is None:
        from audistill.models.load import load_adaptor

        adaptor = load_adaptor(str(model_path), dtype=dtype, device=device, field="--model")
    view = default_view(adaptor)

    generation_started = time.perf_counter()
    generations = generate(adaptor, examples, view, settings, batch_size=batch, options=prompts,
                           show_progress=show_progress)
    generation_seconds = time.perf_counter() - generation_started

    out = Path(out_dir)
    predictions_path = out / PREDICTIONS_FILE
    rows = prediction_rows(examples, generations, audio_base(data_path, audio_root))
    report = score_records(parse_records(rows, str(predictions_path)))
    metrics: dict[str, Any] = {
        **report.to_json(extended=True),
        "generation": generation_summary(generations, generation_seconds),
        "run": {
            "model": model_name,
            "model_family": adaptor.family,
            "model_type": getattr(adaptor.hf_model.config, "model_type", None),
            "view": view,
            "data": str(data_path),
            "format": format,
            "audio_root": str(audio_root) if audio_root is not None else None,
            "limit": limit,
            "n": len(examples),
            "decoding": settings.to_json(),
            "seed": settings.seed,
            "generate_kwargs": settings.generate_kwargs(),
            "batch_size": batch,
            "system_prompt": prompts.system_prompt,
            "description_field": prompts.description_field if text_model else None,
            "device": str(adaptor.device),
            "dtype": str(adaptor.dtype).removeprefix("torch."),
            "started_at": started_at,
            "wall_seconds": time.perf_counter() - started,
            "versions": package_versions(),
        },
    }
    atomic_write_json(predictions_path, rows)
    metrics_path = out / METRICS_FILE
    atomic_write_json(metrics_path, metrics)
    if console is not None:
        from audistill.eval.display import score_table

        console.print(score_table(report, title=f"{model_name} on {data_path} ({settings.mode})"))
        console.print(f"wrote {predictions_path} and {metrics_path}", highlight=False)
    return EvalResult(rows, metrics, report, predictions_path, metrics_path)


def evaluate(
    model_path: str | Path | None,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    decoding: str | DecodingSettings | None = None,
    adaptor: ModelAdaptor | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate and return the metrics written to `metrics.json` (see `run_eval` for the options).

    Example: evaluate("runs/full/final", "data/synth/test.json", "runs/full/eval", decoding="greedy")
    """
    return run_eval(model_path, data_path, out_dir, adaptor=adaptor, decoding=decoding, **options).metrics
