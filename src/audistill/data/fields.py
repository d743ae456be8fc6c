"""Typed access to the fields of one raw row; every problem names the field and its reason kind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from audistill.data.rows import Reason


class RowProblem(ValueError):
    """One thing wrong with a row, with its summary kind."""

    def __init__(self, reason: Reason | str, message: str) -> None:
        super().__init__(message)
        self.reason = str(reason)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def require(row: dict[str, Any], key: str) -> Any:
    if key not in row or row[key] is None:
        raise RowProblem(Reason.MISSING_FIELD, f"missing required field '{key}'")
    return row[key]


def string(row: dict[str, Any], key: str) -> str:
    value = require(row, key)
    if not isinstance(value, str):
        raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be a string, got {_type_name(value)}")
    return value


def identifier(row: dict[str, Any], key: str = "id") -> str:
    """Ids are strings; integer ids (common in hand-made files) are taken as their decimal text."""
    value = require(row, key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be a string, got {_type_name(value)}")
    text = str(value)
    if not text.strip():
        raise RowProblem(Reason.MISSING_FIELD, f"'{key}' is empty")
    return text


def optional_string(row: dict[str, Any], *keys: str) -> str | None:
    """The first of `keys` present and not null; it must be a string."""
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be a string, got {_type_name(value)}")
        return value
    return None


def string_list(row: dict[str, Any], key: str, required: bool = True) -> list[str]:
    if not required and row.get(key) is None:
        return []
    value = require(row, key)
    if not isinstance(value, list):
        raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be a list of strings, got {_type_name(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RowProblem(Reason.WRONG_TYPE, f"'{key}[{index}]' must be a string, got {_type_name(item)}")
    return list(value)


def mapping(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = row.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be an object, got {_type_name(value)}")
    return dict(value)


def resolve_audio(audio: str, base: Path) -> str:
    """An absolute, normalised path: `audio` as is when absolute, else joined to `base`.

    Normalising (not resolving symlinks) turns MMAU's `./test-mini-audios/x.wav` into a clean path.
    """
    path = Path(os.path.expanduser(audio))
    if not path.is_absolute():
        path = base / path
    return os.path.normpath(path.absolute())
