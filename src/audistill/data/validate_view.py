"""What `audistill validate` prints: one line per bad row, then a summary table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from audistill.config import DataConfig
from audistill.data.validate import ValidationReport, validate_file, write_quarantine


def summary_table(report: ValidationReport) -> Table:
    """Rows read, ok and bad, then bad rows per reason; ok + bad always equals rows read."""
    table = Table()
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("read", str(report.rows_read))
    table.add_row("ok", str(report.ok), style="green")
    table.add_row("bad", str(len(report.bad)), style="red" if report.bad else None)
    for reason, count in report.bad_by_reason().items():
        table.add_row(f"  {reason}", str(count))
    return table


def run_validate(path: Path, data: DataConfig, quarantine: Path | None, console: Console) -> int:
    """Validate `path` with the data section's format, audio root and maximum clip length; print
    every bad row and the summary, quarantine if asked. Returns the exit code: 1 when a row is bad
    and no quarantine file was given (or the file holds no rows), else 0."""
    report = validate_file(path, data.format, data.audio_root, data.max_audio_seconds, show_progress=True)
    if report.rows_read == 0:
        console.print(f"{path}: holds no rows", markup=False, highlight=False, soft_wrap=True)
        return 1
    for error in report.bad:
        console.print(error.line(), markup=False, highlight=False, soft_wrap=True)
    audio = f"{report.audio_files} audio file(s) checked" if report.audio_checked else "audio not checked"
    console.print(f"{report.path}: format {report.format}, {audio}", markup=False, highlight=False,
                  soft_wrap=True)
    console.print(summary_table(report))
    if quarantine is not None:
        count = write_quarantine(report, quarantine)
        console.print(f"quarantined {count} bad row(s) to {quarantine}", markup=False, highlight=False,
                      soft_wrap=True)
        return 0
    return 1 if report.bad else 0
