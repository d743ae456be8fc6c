"""Write Examples as our JSONL or as MMAU JSON, atomically.

Audio paths are written relative to the file's folder (or the given audio root) when the audio
lies below it, so a dataset folder can be moved as a whole; other paths stay absolute. Reading a
written file back gives the same Examples (origin aside).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audistill.data.example import Example
from audistill.io import atomic_write_json, atomic_write_jsonl


def _portable_audio(audio: str, base: Path, prefix: str = "") -> str:
    path = Path(audio).absolute()
    try:
        relative = path.relative_to(base.absolute())
    except ValueError:
        return os.fspath(path)
    return prefix + relative.as_posix()


def write_jsonl(
    examples: Iterable[Example], path: str | Path, audio_root: str | Path | None = None
) -> None:
    """Our JSONL: one Example a line, audio relative to `audio_root` (default: the file's folder)."""
    base = Path(audio_root) if audio_root is not None else Path(path).absolute().parent
    rows = []
    for example in examples:
        row = example.to_jsonl_dict()
        row["audio"] = _portable_audio(example.audio, base)
        rows.append(row)
    atomic_write_jsonl(path, rows)


def mmau_row(example: Example, base: Path) -> dict[str, Any]:
    """One MMAU benchmark object; our optional fields follow MMAU's, then any extra fields."""
    extra = dict(example.extra)
    row: dict[str, Any] = {
        "id": example.id,
        "audio_id": _portable_audio(example.audio, base, prefix="./"),
        "question": example.question,
        "choices": list(example.choices),
        "answer": example.answer,
        "dataset": extra.pop("dataset", ""),
        "task": example.task,
        "split": example.split,
        "category": example.category,
        "sub-category": example.sub_category,
        "difficulty": example.difficulty,
    }
    if example.reasoning is not None:
        row["reasoning"] = example.reasoning
    if example.description is not None:
        row["description"] = example.description
    if example.meta:
        row["meta"] = example.meta
    row.update({k: v for k, v in extra.items() if k not in row})
    return row


def write_mmau_json(
    examples: Iterable[Example], path: str | Path, audio_root: str | Path | None = None
) -> None:
    """MMAU's benchmark JSON (a list of objects); `audio_id` is `./`-relative to `audio_root`
    (default: the file's folder), as in MMAU's own `./test-mini-audios/x.wav`."""
    base = Path(audio_root) if audio_root is not None else Path(path).absolute().parent
    atomic_write_json(path, [mmau_row(example, base) for example in examples])
