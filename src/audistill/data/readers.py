"""Read a data file in any supported format into Examples, one result per row.

`iter_rows` is the low-level reader: for every row of the file, in order, it yields the raw row
and either its Example or a RowError (origin `PATH:LINE` / `PATH:INDEX`, id when known, reason).
Nothing is skipped. `read_examples` returns the Examples and raises DataError listing every row
that did not parse; it checks structure only; audistill.data.validate.load_dataset also checks
answers, choices, ids and audio, and is what commands that train or evaluate call.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from audistill.data.example import Example
from audistill.data.fields import RowProblem
from audistill.data.formats import CONVERTERS, FORMATS, detect_file_format
from audistill.data.rows import DataError, RawRow, Reason, RowError, raw_id, read_raw_rows

FORMAT_CHOICES: tuple[str, ...] = ("auto", *FORMATS)
MAX_LISTED_ERRORS = 50


@dataclass(frozen=True)
class ReadResult:
    """One row: what was read and what it became."""

    row: RawRow
    result: Example | RowError

    @property
    def ok(self) -> bool:
        return isinstance(self.result, Example)


def audio_base(path: str | Path, audio_root: str | Path | None) -> Path:
    """The folder relative audio paths are resolved against: the audio root, else the file's folder."""
    if audio_root is not None:
        return Path(audio_root).expanduser().absolute()
    return Path(path).absolute().parent


def _convert(row: RawRow, fmt: str, base: Path) -> Example | RowError:
    if not row.parsed:
        return RowError(row.origin, None, Reason.UNPARSEABLE, "line is not valid JSON", row.raw)
    if not isinstance(row.raw, dict):
        message = f"row must be a JSON object, got {type(row.raw).__name__}"
        return RowError(row.origin, None, Reason.UNPARSEABLE, message, row.raw)
    try:
        return CONVERTERS[fmt](row.raw, row.origin, base)
    except RowProblem as problem:
        return RowError(row.origin, raw_id(row.raw), problem.reason, str(problem), row.raw)


def open_rows(
    path: str | Path, format: str = "auto", audio_root: str | Path | None = None
) -> tuple[str, Iterator[ReadResult]]:
    """The concrete format of `path` and an iterator over its rows (see `iter_rows`).

    With format auto, rows are read up to the first object row, whose keys decide the format;
    those rows are replayed and the rest stream through, so a file is parsed only once.
    """
    if format not in FORMAT_CHOICES:
        raise DataError(f"{path}: unknown format '{format}'; choose one of {', '.join(FORMAT_CHOICES)}")
    base = audio_base(path, audio_root)
    rows = read_raw_rows(path)
    buffered: list[RawRow] = []
    fmt = format
    if fmt == "auto":
        for row in rows:
            buffered.append(row)
            if row.parsed and isinstance(row.raw, dict):
                break
        fmt = detect_file_format(Path(path), [r.raw for r in buffered if r.parsed])

    def results() -> Iterator[ReadResult]:
        for row in itertools.chain(buffered, rows):
            yield ReadResult(row, _convert(row, fmt, base))

    return fmt, results()


def iter_rows(
    path: str | Path, format: str = "auto", audio_root: str | Path | None = None
) -> Iterator[ReadResult]:
    """Every row of `path` with its Example or RowError, in file order.

    `format` is auto | jsonl | mmau | cota; auto decides from the first object row's keys.
    Raises DataError for problems of the whole file (missing, not JSON, undetectable format).
    """
    return open_rows(path, format, audio_root)[1]


def resolve_format(path: str | Path, format: str = "auto") -> str:
    """The concrete format `iter_rows` would use for this file."""
    return open_rows(path, format)[0]


def error_listing(path: str | Path, errors: list[RowError], what: str) -> str:
    """A DataError message: how many rows are bad and each one's `PATH:LINE id reason` line."""
    shown = [f"  {error.line()}" for error in errors[:MAX_LISTED_ERRORS]]
    more = len(errors) - len(shown)
    if more > 0:
        shown.append(f"  ... and {more} more (run `audistill validate {path}` for all)")
    return "\n".join([f"{path}: {len(errors)} bad row(s) {what}:", *shown])


def read_examples(
    path: str | Path, format: str = "auto", audio_root: str | Path | None = None
) -> list[Example]:
    """All Examples of a file; DataError listing every row that does not parse (structure only)."""
    examples: list[Example] = []
    errors: list[RowError] = []
    for item in iter_rows(path, format, audio_root):
        if isinstance(item.result, Example):
            examples.append(item.result)
        else:
            errors.append(item.result)
    if errors:
        raise DataError(error_listing(path, errors, "could not be read"))
    return examples
