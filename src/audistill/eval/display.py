"""Rich tables of a ScoreReport for the terminal."""

from __future__ import annotations

from rich.table import Table

from audistill.eval.metrics import Counts, ScoreReport
from audistill.eval.stats import wilson_interval


def _row(group: str, name: str, counts: Counts) -> list[str]:
    if not counts.n:
        return [group, name, "n/a", "n/a", "0/0", str(counts.missing)]
    low, high = wilson_interval(counts.correct, counts.n)
    return [
        group,
        name,
        f"{100 * counts.correct / counts.n:.2f}",
        f"{100 * low:.1f}-{100 * high:.1f}",
        f"{counts.correct}/{counts.n}",
        str(counts.missing),
    ]


def score_table(report: ScoreReport, title: str = "MMAU word-set accuracy") -> Table:
    """Accuracy (%) with a 95% Wilson interval per group, then emotion UA and WER when present."""
    table = Table(title=title)
    for column, justify in (("group", "left"), ("name", "left"), ("acc %", "right"),
                            ("95% CI", "right"), ("correct/n", "right"), ("missing", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_row(*_row("overall", "all", report.overall), end_section=True)
    for group, groups in (("task", report.task), ("difficulty", report.difficulty),
                          ("sub-category", report.sub_category)):
        names = list(groups)
        for index, name in enumerate(names):
            table.add_row(*_row(group, name, groups[name]), end_section=index == len(names) - 1)
    if report.emotion is not None:
        ua = report.emotion
        classes = ", ".join(f"{c} {h}/{t}" for c, (h, t) in ua.recalls.items())
        table.add_row("emotion", f"UA ({classes})", f"{100 * ua.ua:.2f}", "", f"n={ua.n}", "")
    if report.transcription is not None:
        wer = report.transcription
        table.add_row("transcription", "WER %", f"{100 * wer.wer:.2f}", "",
                      f"n={wer.n}", str(wer.missing))
    return table
