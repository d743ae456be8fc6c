"""Row-level validation of a data file, and the one data loader every command uses.

Every row is read and checked: it parses, required fields are present with the right types,
the question and answer are non-empty, choices (when given) are at least two, unique and contain
the answer, the task is sound | music | speech, the difficulty (when given) is easy | medium |
hard, the id is not a repeat, and the audio file exists, decodes, is longer than 0 s and at most
`max_audio_seconds`, with no NaN/inf samples. A row with several problems is reported once with
all of them; its summary reason is the first. Rows read always equals ok + bad.

Audio is the slow part: each distinct file is decoded exactly once, on a thread pool (libsndfile
and numpy release the GIL while they work).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audistill.config import DataConfig
from audistill.data.audio import AudioError, AudioInfo
from audistill.data.audio import check_audio as decode_and_check
from audistill.data.example import DIFFICULTIES, TASKS, Example
from audistill.data.fields import RowProblem
from audistill.data.readers import error_listing, open_rows
from audistill.data.rows import DataError, Reason, RowError, read_raw_rows
from audistill.io import atomic_write_jsonl

DEFAULT_MAX_AUDIO_SECONDS = 30.0  # matches DataConfig.max_audio_seconds


@dataclass
class ValidationReport:
    """The outcome of validating one file. `examples` are the good rows, `bad` the others."""

    path: str
    format: str
    rows_read: int
    examples: list[Example] = field(default_factory=list)
    bad: list[RowError] = field(default_factory=list)
    audio_checked: bool = True
    audio_files: int = 0  # distinct audio files decoded

    @property
    def ok(self) -> int:
        return len(self.examples)

    def bad_by_reason(self) -> dict[str, int]:
        """Bad rows per summary reason, most frequent first."""
        return dict(Counter(error.reason for error in self.bad).most_common())


def _near_miss(answer: str, choices: list[str]) -> str:
    folded = answer.strip().casefold()
    close = [c for c in choices if c.strip().casefold() == folded]
    return f" (differs only in case or spaces from {close[0]!r})" if close else ""


def content_problems(example: Example) -> list[RowProblem]:
    """What is wrong with an Example's text fields (audio aside); empty when nothing is."""
    problems: list[RowProblem] = []
    if not example.question.strip():
        problems.append(RowProblem(Reason.EMPTY_QUESTION, "question is empty"))
    if not example.answer.strip():
        problems.append(RowProblem(Reason.EMPTY_ANSWER, "answer is empty"))
    choices = example.choices
    if len(choices) == 1:
        problems.append(RowProblem(
            Reason.TOO_FEW_CHOICES, "choices has 1 entry; give at least 2, or none for an open-ended item"
        ))
    repeated = [c for c, n in Counter(choices).items() if n > 1]
    if repeated:
        problems.append(RowProblem(Reason.DUPLICATE_CHOICES, f"choices repeat {repeated!r}"))
    if choices and example.answer.strip() and example.answer not in choices:
        problems.append(RowProblem(
            Reason.ANSWER_NOT_IN_CHOICES,
            f"answer {example.answer!r} is not one of the choices {choices!r}"
            + _near_miss(example.answer, choices),
        ))
    if example.task not in TASKS:
        problems.append(RowProblem(
            Reason.BAD_TASK, f"task {example.task!r} is not one of {' | '.join(TASKS)}"
        ))
    if example.difficulty and example.difficulty not in DIFFICULTIES:
        problems.append(RowProblem(
            Reason.BAD_DIFFICULTY,
            f"difficulty {example.difficulty!r} is not one of {' | '.join(DIFFICULTIES)}",
        ))
    return problems


def check_audio_files(
    paths: Iterable[str],
    max_seconds: float | None,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> dict[str, AudioInfo | AudioError]:
    """Decode each distinct path once (in parallel); map it to what was found or why it failed."""
    unique = list(dict.fromkeys(paths))
    workers = workers or min(8, 2 * (os.cpu_count() or 1))

    def one(path: str) -> AudioInfo | AudioError:
        try:
            return decode_and_check(path, max_seconds)
        except AudioError as exc:
            return exc
        finally:
            if on_done is not None:
                on_done()

    if len(unique) < 2 or workers == 1:
        return {path: one(path) for path in unique}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


def _progress_checker(total: int, show: bool) -> tuple[Callable[[], None] | None, Any]:
    """A tick callback and a context manager drawing a progress bar on stderr (or nothing)."""
    from contextlib import nullcontext

    if not show or total < 50:
        return None, nullcontext()
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    task = progress.add_task("decoding audio", total=total)
    return (lambda: progress.advance(task)), progress


def validate_file(
    path: str | Path,
    format: str = "auto",
    audio_root: str | Path | None = None,
    max_audio_seconds: float | None = DEFAULT_MAX_AUDIO_SECONDS,
    check_audio: bool = True,
    max_rows: int | None = None,
    workers: int | None = None,
    show_progress: bool = False,
) -> ValidationReport:
    """Read and check every row of `path` (the first `max_rows` when given).

    Raises DataError only for problems of the whole file (missing, not JSON, format unknown);
    everything about single rows goes into the report.
    """
    fmt, rows = open_rows(path, format, audio_root)
    outcomes: list[Example | RowError] = []
    first_seen: dict[str, str] = {}
    repeats: dict[str, str] = {}  # origin of a repeated id -> origin of its first use
    for item in rows:
        if max_rows is not None and len(outcomes) >= max_rows:
            break
        row_id = item.result.id
        if row_id is not None:
            if row_id in first_seen and isinstance(item.result, Example):
                repeats[item.row.origin] = first_seen[row_id]
            first_seen.setdefault(row_id, item.row.origin)
        outcomes.append(item.result)

    candidates = [r for r in outcomes if isinstance(r, Example)]
    audio: dict[str, AudioInfo | AudioError] = {}
    if check_audio and candidates:
        paths = list(dict.fromkeys(e.audio for e in candidates))
        tick, bar = _progress_checker(len(paths), show_progress)
        with bar:
            audio = check_audio_files(paths, max_audio_seconds, workers, tick)

    report = ValidationReport(str(path), fmt, len(outcomes), audio_checked=check_audio,
                              audio_files=len(audio))
    for outcome in outcomes:
        if isinstance(outcome, RowError):
            report.bad.append(outcome)
            continue
        problems = content_problems(outcome)
        if outcome.origin in repeats:
            problems.insert(0, RowProblem(
                Reason.DUPLICATE_ID, f"duplicate id {outcome.id!r} (first at {repeats[outcome.origin]})"
            ))
        found = audio.get(outcome.audio)
        if isinstance(found, AudioError):
            problems.append(RowProblem(found.kind, str(found)))
        if problems:
            message = "; ".join(str(p) for p in problems)
            report.bad.append(RowError(outcome.origin, outcome.id, problems[0].reason, message))
        else:
            report.examples.append(outcome)
    return report


def quarantine_rows(report: ValidationReport) -> list[dict[str, Any]]:
    """The bad rows as read, each with `reason` (the full message) and `origin` added.

    A row that is not a JSON object (an unparseable line, a bare value in a list) is stored under
    `raw`. Raw rows of bad-but-parseable rows are fetched with a second streaming pass over the
    file, so validation never holds every raw row in memory.
    """
    wanted = {error.origin: error for error in report.bad}
    raws: dict[str, Any] = {e.origin: e.raw for e in report.bad if e.raw is not None}
    if len(raws) < len(wanted):
        for row in read_raw_rows(report.path):
            if row.origin in wanted and row.origin not in raws:
                raws[row.origin] = row.raw
    rows: list[dict[str, Any]] = []
    for error in report.bad:
        raw = raws.get(error.origin)
        base = dict(raw) if isinstance(raw, dict) else {"raw": raw}
        rows.append({**base, "reason": error.message, "origin": error.origin})
    return rows


def write_quarantine(report: ValidationReport, path: str | Path) -> int:
    """Write exactly the bad rows to `path` as JSONL (atomically); return how many."""
    rows = quarantine_rows(report)
    atomic_write_jsonl(path, rows)
    return len(rows)


def load_dataset(
    path: str | Path,
    format: str = "auto",
    audio_root: str | Path | None = None,
    max_audio_seconds: float | None = DEFAULT_MAX_AUDIO_SECONDS,
    check_audio: bool = True,
    max_rows: int | None = None,
    show_progress: bool = False,
) -> list[Example]:
    """The Examples of a data file after full validation; DataError listing every bad row.

    Training and evaluation load data only through this, so they never start on a bad row
    without saying so.
    """
    report = validate_file(path, format, audio_root, max_audio_seconds, check_audio, max_rows,
                           show_progress=show_progress)
    if report.bad:
        raise DataError(error_listing(path, report.bad, f"of {report.rows_read}"))
    if not report.examples:
        raise DataError(f"{path}: holds no rows")
    return report.examples


def load_configured(data: DataConfig, split: str, check_audio: bool = True,
                    show_progress: bool = False) -> list[Example]:
    """Load `data.<split>` (train | dev | test) of a DataConfig with its format, audio root,
    maximum clip length and row limit."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    path = getattr(data, split)
    if path is None:
        raise DataError(f"data.{split}: no file configured")
    return load_dataset(path, data.format, data.audio_root, data.max_audio_seconds, check_audio,
                        data.max_examples, show_progress)
