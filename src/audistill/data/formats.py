"""Turn one raw row of each supported format into an Example.

Formats:

- `jsonl` (ours): `id, audio, question, choices, answer, task` plus the optional `sub_category,
  difficulty, category, split, reasoning, description, meta`. `audio` is relative to the data
  file's folder unless absolute or an audio root is given.
- `mmau` (MMAU's benchmark JSON): `id, audio_id, question, choices, answer, dataset, task, split,
  category, sub-category, difficulty`; `audio_id` (e.g. `./test-mini-audios/x.wav`) is resolved
  against the audio root, by default the JSON file's folder. Our optional `reasoning`,
  `description` and `meta` are read too.
- `cota` (CoTA / Audio-Reasoner training rows): see audistill.data.cota.

Either container (JSON list or JSON Lines) holds any format. Keys a format does not know are kept
in `Example.extra` (MMAU's `dataset`, a `model_output`, ...) so writing an example back loses
nothing. Only structure is checked here (fields present, types right, trace well formed); what a
usable example must satisfy is checked in audistill.data.validate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from audistill.data.cota import COTA_KEYS, cota_example, looks_like_cota
from audistill.data.example import JSONL_FIELDS, Example
from audistill.data.fields import (
    RowProblem,
    identifier,
    mapping,
    optional_string,
    resolve_audio,
    string,
    string_list,
)
from audistill.data.rows import DataError, Reason
from audistill.data.trace import TraceError, parse_trace

FORMATS: tuple[str, ...] = ("jsonl", "mmau", "cota")
MMAU_FIELDS: tuple[str, ...] = (
    "id", "audio_id", "question", "choices", "answer", "dataset", "task", "split", "category",
    "sub-category", "difficulty",
)
_MMAU_READ = (*MMAU_FIELDS, "sub_category", "reasoning", "description", "meta")


def checked_reasoning(row: dict[str, Any]) -> str | None:
    """The optional `reasoning` trace, which must parse when given."""
    reasoning = optional_string(row, "reasoning")
    if reasoning is not None:
        try:
            parse_trace(reasoning)
        except TraceError as exc:
            raise RowProblem(Reason.BAD_TRACE, f"'reasoning': {exc}") from None
    return reasoning


def _extra(row: dict[str, Any], known: Iterable[str]) -> dict[str, Any]:
    known_set = set(known)
    return {k: v for k, v in row.items() if k not in known_set}


def jsonl_example(row: dict[str, Any], origin: str, audio_base: Path) -> Example:
    return Example(
        id=identifier(row),
        audio=resolve_audio(string(row, "audio"), audio_base),
        question=string(row, "question"),
        choices=string_list(row, "choices"),
        answer=string(row, "answer"),
        task=string(row, "task"),
        sub_category=optional_string(row, "sub_category") or "",
        difficulty=optional_string(row, "difficulty") or "",
        category=optional_string(row, "category") or "",
        split=optional_string(row, "split") or "",
        reasoning=checked_reasoning(row),
        description=optional_string(row, "description"),
        meta=mapping(row, "meta"),
        extra=_extra(row, JSONL_FIELDS),
        origin=origin,
    )


def mmau_example(row: dict[str, Any], origin: str, audio_base: Path) -> Example:
    extra = _extra(row, _MMAU_READ)
    dataset = optional_string(row, "dataset")
    if dataset:
        extra = {"dataset": dataset, **extra}
    return Example(
        id=identifier(row),
        audio=resolve_audio(string(row, "audio_id"), audio_base),
        question=string(row, "question"),
        choices=string_list(row, "choices"),
        answer=string(row, "answer"),
        task=string(row, "task"),
        sub_category=optional_string(row, "sub-category", "sub_category") or "",
        difficulty=optional_string(row, "difficulty") or "",
        category=optional_string(row, "category") or "",
        split=optional_string(row, "split") or "",
        reasoning=checked_reasoning(row),
        description=optional_string(row, "description"),
        meta=mapping(row, "meta"),
        extra=extra,
        origin=origin,
    )


Converter = Callable[[dict[str, Any], str, Path], Example]
CONVERTERS: dict[str, Converter] = {"jsonl": jsonl_example, "mmau": mmau_example, "cota": cota_example}


def detect_format(row: dict[str, Any]) -> str | None:
    """The format one row belongs to, from its keys; None when none fits."""
    if "audio_id" in row:
        return "mmau"
    if looks_like_cota(row):
        return "cota"
    if "audio" in row and "question" in row:
        return "jsonl"
    return None


def detect_file_format(path: Path, rows: Iterable[Any]) -> str:
    """The format of a file from its first object row; DataError when it cannot be told."""
    for raw in rows:
        if isinstance(raw, dict):
            found = detect_format(raw)
            if found is None:
                keys = ", ".join(sorted(raw)[:12])
                raise DataError(
                    f"{path}: cannot detect the data format from the first row's keys ({keys}); "
                    f"expected 'audio_id' (mmau), one of {', '.join(COTA_KEYS)} (cota) or 'audio' and "
                    "'question' (jsonl); pass --format"
                )
            return found
    return "jsonl"  # no object rows at all: every row will be reported unparseable either way
