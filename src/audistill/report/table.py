"""Per-row results over seeds: the numbers behind every table, plot and claim of the report.

A row's cell is the mean over seeds with a 95% Student's t interval (NaN with one seed). Values
are percentages. `avg` is the mean of the three task accuracies, as in the paper's Table 1
(where it equals the mean of sound, music and speech), so an unbalanced test split does not
weight one task more. Emotion UA and WER come from the perception test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from audistill.eval.stats import MeanCI, mean_ci

TASKS = ("sound", "music", "speech")
COLUMNS = ("sound", "music", "speech", "avg", "emotion_ua", "wer")


@dataclass
class SeedResult:
    """One trained (or untrained) model of one ladder row, evaluated once."""

    seed: int
    reasoning: dict[str, Any]  # eval metrics.json of the reasoning test split
    perception: dict[str, Any] | None  # eval metrics.json of the perception test split
    train_metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl rows
    seconds: float = 0.0  # training + evaluation, wall
    train_seconds: float = 0.0  # of which training (0 for an untrained row)


@dataclass
class RowResults:
    key: str
    label: str
    seeds: list[SeedResult]
    beyond_paper: bool = False


def _pct(value: float | None) -> float:
    return math.nan if value is None else 100.0 * float(value)


def seed_values(result: SeedResult) -> dict[str, float]:
    """One seed's Table 1 values, in percent (WER in percent too)."""
    tasks = result.reasoning.get("task", {})
    values = {name: _pct(tasks.get(name, {}).get("accuracy")) for name in TASKS}
    present = [values[t] for t in TASKS if not math.isnan(values[t])]
    values["avg"] = sum(present) / len(present) if present else math.nan
    emotion = (result.perception or {}).get("emotion") or {}
    transcription = (result.perception or {}).get("transcription") or {}
    values["emotion_ua"] = _pct(emotion.get("ua"))
    values["wer"] = _pct(transcription.get("wer"))
    return values


def row_cells(row: RowResults) -> dict[str, MeanCI]:
    per_seed = [seed_values(s) for s in row.seeds]
    cells: dict[str, MeanCI] = {}
    for column in COLUMNS:
        values = [v[column] for v in per_seed if not math.isnan(v[column])]
        cells[column] = mean_ci(values) if values else MeanCI(math.nan, math.nan, math.nan, math.nan, 0)
    return cells


def format_cell(cell: MeanCI, digits: int = 1) -> str:
    if cell.n == 0 or math.isnan(cell.mean):
        return "n/a"
    if math.isnan(cell.half_width):
        return f"{cell.mean:.{digits}f}"
    return f"{cell.mean:.{digits}f} ± {cell.half_width:.{digits}f}"


def _json_number(value: float | None) -> float | None:
    """NaN (no interval from one seed, a metric not measured) as null: JSON has no NaN."""
    return None if value is None or math.isnan(value) else value


def table_rows(rows: Sequence[RowResults]) -> list[dict[str, Any]]:
    """JSON-ready rows: key, label, seeds, and mean / half-width / per-seed values per column."""
    out = []
    for row in rows:
        cells = row_cells(row)
        per_seed = [seed_values(s) for s in row.seeds]
        out.append({
            "key": row.key, "label": row.label, "seeds": [s.seed for s in row.seeds],
            "beyond_paper": row.beyond_paper,
            **{c: {"mean": _json_number(cells[c].mean), "ci95": _json_number(cells[c].half_width),
                   "per_seed": [_json_number(v[c]) for v in per_seed]} for c in COLUMNS},
        })
    return out
