"""`textualize_file`: write each example's `description`, batched and resumable.

Finished rows are appended to `OUT.partial.jsonl` ({"id", "description"} per line, fsynced per
batch). A rerun after a crash reads it back (a torn last line is dropped), skips those ids and goes
on; at the end the whole file is written atomically in the input's format (MMAU JSON stays MMAU
JSON with its reasoning and meta; JSONL and CoTA become our JSONL) and the partial file is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audistill.data.audio import load_audio
from audistill.data.example import Example
from audistill.data.readers import resolve_format
from audistill.data.validate import load_dataset
from audistill.data.writers import write_jsonl, write_mmau_json
from audistill.textualize.dsp import describe_signal

MODES = ("student", "oracle", "dsp", "student+dsp")
DESCRIBE_MAX_NEW_TOKENS = 96


class TextualizeError(ValueError):
    """Textualization that cannot run; the message names the file, row or option."""


Describer = Callable[[Sequence[Example]], list[str]]


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def read_partial(path: Path) -> dict[str, str]:
    done: dict[str, str] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the torn last line of a killed run
        if isinstance(row, dict) and "id" in row and "description" in row:
            done[str(row["id"])] = str(row["description"])
    return done


def oracle_describer(examples: Sequence[Example]) -> list[str]:
    from audistill.synth import oracle_description

    missing = [e.id for e in examples if not e.meta]
    if missing:
        raise TextualizeError(f"--mode oracle needs each example's `meta` ground truth (audistill synth "
                              f"data); missing for: {', '.join(missing[:5])}")
    return [oracle_description(e.meta) for e in examples]


def dsp_describer(sample_rate: int) -> Describer:
    def describe(examples: Sequence[Example]) -> list[str]:
        return [describe_signal(load_audio(e.audio, sample_rate), sample_rate).text() for e in examples]

    return describe


def student_describer(model: str | Path, batch_size: int) -> Describer:
    from audistill.eval.generate import DecodingSettings, generate_texts
    from audistill.models.load import load_adaptor

    adaptor = load_adaptor(str(model))
    if not hasattr(adaptor, "audio_format"):
        raise TextualizeError(f"--model {model}: a text LM cannot hear; student modes need an audio model")
    settings = DecodingSettings(mode="greedy", max_new_tokens=DESCRIBE_MAX_NEW_TOKENS)

    def describe(examples: Sequence[Example]) -> list[str]:
        texts = generate_texts(adaptor, examples, "describe", settings=settings, batch_size=batch_size)
        return [t.strip() for t in texts]

    return describe


def make_describer(mode: str, model: str | Path | None, batch_size: int, sample_rate: int) -> Describer:
    if mode not in MODES:
        raise TextualizeError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode.startswith("student") and model is None:
        raise TextualizeError(f"--mode {mode} needs --model (the audio student that describes the audio)")
    if mode == "oracle":
        return oracle_describer
    if mode == "dsp":
        return dsp_describer(sample_rate)
    student = student_describer(model, batch_size)  # type: ignore[arg-type]
    if mode == "student":
        return student
    dsp = dsp_describer(sample_rate)
    return lambda examples: [f"{s} {d}" for s, d in zip(student(examples), dsp(examples), strict=True)]


def textualize_file(
    data: str | Path,
    out: str | Path,
    *,
    mode: str = "student",
    model: str | Path | None = None,
    batch_size: int = 16,
    format: str = "auto",
    audio_root: str | Path | None = None,
    sample_rate: int = 16000,
    console: Console | None = None,
    describer: Describer | None = None,
) -> Path:
    """Describe every example of `data` and write the result to `out`; returns `out`."""
    data, out = Path(data), Path(out)
    if out.resolve() == data.resolve():
        raise TextualizeError(f"--out {out}: must differ from the input file")
    fmt = resolve_format(data, format)
    examples = load_dataset(data, format, audio_root, check_audio=mode != "oracle")
    describe = describer or make_describer(mode, model, batch_size, sample_rate)
    partial = partial_path(out)
    done = read_partial(partial)
    todo = [e for e in examples if e.id not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    progress = Progress(TextColumn(f"textualize ({mode})"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)
    with progress, partial.open("a") as handle:
        task = progress.add_task("rows", total=len(examples), completed=len(examples) - len(todo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            for example, text in zip(chunk, describe(chunk), strict=True):
                done[example.id] = text
                handle.write(json.dumps({"id": example.id, "description": text}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            progress.advance(task, len(chunk))
    for example in examples:
        example.description = done[example.id]
    if fmt == "mmau":
        write_mmau_json(examples, out)
    else:
        write_jsonl(examples, out)
    partial.unlink(missing_ok=True)
    return out
