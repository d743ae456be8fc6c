"""Raw rows of a data file, each with its origin, and the errors that name them.

A data file is either a JSON list (MMAU's layout) or JSON Lines (one object a line); which one is
decided by content, not name: a file whose first non-blank character is `[` is a JSON list. A row's
origin is `PATH:LINE` for JSON Lines (1-based line number) and `PATH:INDEX` for a JSON list
(0-based list index, as in `data[INDEX]`). Blank lines in JSON Lines are not rows; every other line
is one, even when it does not parse, so nothing is dropped without a word.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Reason(StrEnum):
    """Why a row is bad, in a few words; the summary of `audistill validate` counts these."""

    UNPARSEABLE = "unparseable row"
    MISSING_FIELD = "missing field"
    WRONG_TYPE = "wrong field type"
    BAD_CONVERSATION = "bad conversation"
    BAD_TRACE = "malformed reasoning trace"
    EMPTY_QUESTION = "empty question"
    EMPTY_ANSWER = "empty answer"
    TOO_FEW_CHOICES = "fewer than 2 choices"
    DUPLICATE_CHOICES = "duplicate choices"
    ANSWER_NOT_IN_CHOICES = "answer not in choices"
    BAD_TASK = "unknown task"
    BAD_DIFFICULTY = "unknown difficulty"
    DUPLICATE_ID = "duplicate id"
    AUDIO = "unusable audio"  # refined by the AudioError kind where known


class DataError(ValueError):
    """A data file that cannot be used; the message names the file and every bad row."""


@dataclass(frozen=True)
class RawRow:
    """One row as read: a parsed JSON value, or the line's text when it did not parse."""

    origin: str
    raw: Any
    parsed: bool = True


@dataclass(frozen=True)
class RowError:
    """A bad row: where it is, its id when known, and why (`reason` is the summary kind)."""

    origin: str
    id: str | None
    reason: str
    message: str
    raw: Any = None

    def line(self) -> str:
        """`PATH:LINE id message`, the one line `audistill validate` prints for this row."""
        return f"{self.origin} {self.id if self.id is not None else '-'} {self.message}"


def raw_id(raw: Any) -> str | None:
    """The id of a raw row when it has a usable one, for error messages."""
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def is_json_list(path: Path) -> bool:
    """Whether the file's first non-blank character opens a JSON list."""
    with path.open("r", encoding="utf-8") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip().lstrip("\ufeff").lstrip()
            if stripped:
                return stripped.startswith("[")
    return False


def read_raw_rows(path: str | Path) -> Iterator[RawRow]:
    """Every row of a JSON list or JSON Lines file, in order.

    Raises DataError when the file is missing, is not UTF-8, or is a JSON list that does not
    parse as a whole (a JSON list has no rows to recover separately).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: data file not found")
    try:
        if is_json_list(p):
            yield from _json_list_rows(p)
        else:
            yield from _jsonl_rows(p)
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc})") from None


def _json_list_rows(path: Path) -> Iterator[RawRow]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(rows).__name__}")
    for index, row in enumerate(rows):
        yield RawRow(origin=f"{path}:{index}", raw=row)


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    with path.open("r", encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            text = line.rstrip("\r\n")
            try:
                yield RawRow(origin=f"{path}:{number}", raw=json.loads(text))
            except json.JSONDecodeError:
                yield RawRow(origin=f"{path}:{number}", raw=text, parsed=False)
