"""Read an MMAU-format predictions file (any system's) into validated records.

A predictions file is MMAU's benchmark JSON (a list of objects) with each object carrying the
model's prediction. The prediction is `model_prediction` (the key MMAU's own script reads) when
that key is present; otherwise `model_output`, from which the answer is taken out of the
`<RESPONSE>` tags. An object with neither has no prediction (scored wrong, counted as missing).
JSON Lines files (`.jsonl`, one object a line) are read too. The sub-category is read from MMAU's
`sub-category` or from our Example's `sub_category`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audistill.eval.answer import extract_answer


class PredictionFileError(ValueError):
    """A predictions file that cannot be scored; the message names the file and the item."""


@dataclass(frozen=True)
class PredictionRecord:
    """One scored question: its ground truth, grouping fields and the model's answer text."""

    where: str  # "file[index]" or "file:line", for messages
    id: str
    answer: str
    choices: list[str]
    prediction: str | None
    task: str | None
    difficulty: str | None
    sub_category: str | None


def prediction_text(row: dict[str, Any]) -> str | None:
    """The answer text of one row: `model_prediction`, else the RESPONSE part of `model_output`."""
    if "model_prediction" in row:
        return row["model_prediction"]
    output = row.get("model_output")
    return None if output is None else extract_answer(output)


def _optional_str(row: dict[str, Any], keys: Sequence[str], where: str) -> str | None:
    for key in keys:
        if key in row and row[key] is not None:
            value = row[key]
            if not isinstance(value, str):
                raise PredictionFileError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
            return value
    return None


def parse_record(row: object, where: str) -> PredictionRecord:
    """Validate one row; every error names `where` and, when known, the item id."""
    if not isinstance(row, dict):
        raise PredictionFileError(f"{where}: each item must be a JSON object, got {type(row).__name__}")
    item_id = str(row.get("id", ""))
    label = f"{where} (id {item_id})" if item_id else where
    answer = row.get("answer")
    if not isinstance(answer, str):
        raise PredictionFileError(f"{label}: 'answer' must be a string, got {type(answer).__name__}")
    choices = row.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise PredictionFileError(f"{label}: 'choices' must be a list of strings")
    for key in ("model_prediction", "model_output"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            kind = type(value).__name__
            raise PredictionFileError(f"{label}: '{key}' must be a string or null, got {kind}")
    return PredictionRecord(
        where=where,
        id=item_id,
        answer=answer,
        choices=list(choices),
        prediction=prediction_text(row),
        task=_optional_str(row, ("task",), label),
        difficulty=_optional_str(row, ("difficulty",), label),
        sub_category=_optional_str(row, ("sub-category", "sub_category"), label),
    )


def parse_records(rows: object, source: str) -> list[PredictionRecord]:
    """Validate a whole decoded JSON list; `source` names the file in errors."""
    if not isinstance(rows, list):
        raise PredictionFileError(f"{source}: expected a JSON list of items, got {type(rows).__name__}")
    return [parse_record(row, f"{source}[{index}]") for index, row in enumerate(rows)]


def load_predictions(path: str | Path) -> list[PredictionRecord]:
    """Read and validate a predictions file (MMAU JSON list, or JSON Lines when named `.jsonl`)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PredictionFileError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PredictionFileError(f"{file}: cannot read ({exc})") from None
    if file.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PredictionFileError(f"{file}:{number}: invalid JSON ({exc.msg})") from None
            records.append(parse_record(row, f"{file}:{number}"))
        return records
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PredictionFileError(
            f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from None
    return parse_records(rows, str(file))
