"""report.md and report.html: Table 1 measured here beside the paper's, the claims, the figures,
and how the run was made (command, seeds, run time, versions). Also report.json with every number."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audistill.io import atomic_write_json, atomic_write_text
from audistill.report.claims import ClaimVerdict, check_claims
from audistill.report.paper import PAPER_TABLE1
from audistill.report.plots import plot_accuracy, plot_layer_losses, plot_training_curves
from audistill.report.table import COLUMNS, RowResults, format_cell, row_cells, table_rows

HEADERS = ("sound", "music", "speech", "avg", "emotion UA", "WER")


@dataclass
class RunInfo:
    command: str
    seeds: list[int]
    seconds: float
    data_card: str = ""
    zoo_card: str = ""
    notes: list[str] = field(default_factory=list)
    versions: dict[str, Any] = field(default_factory=dict)


def _paper_cells(key: str) -> list[str]:
    paper = PAPER_TABLE1.get(key)
    if paper is None:
        return ["–"] * len(HEADERS)
    return [f"{paper[c]:.2f}" if c in paper else "–" for c in COLUMNS]


def _table_lines(rows: Sequence[RowResults]) -> list[list[str]]:
    lines = []
    for row in rows:
        cells = row_cells(row)
        wer_digits = {"wer": 1}
        lines.append([row.label + (" *" if row.beyond_paper else ""),
                      *(format_cell(cells[c], wer_digits.get(c, 1)) for c in COLUMNS)])
    return lines


def _md_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _html_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in lines)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(rows: Sequence[RowResults], out_dir: str | Path, info: RunInfo) -> dict[str, Path]:
    """Write report.md, report.html, report.json and the figures into out_dir."""
    out = Path(out_dir)
    figures = out / "figures"
    paths: dict[str, Path] = {"accuracy": plot_accuracy(rows, figures / "accuracy.png")}
    curves = plot_training_curves(rows, figures / "training_curves.png")
    layers = plot_layer_losses(rows, figures / "layer_losses.png")
    if curves:
        paths["training_curves"] = curves
    if layers:
        paths["layer_losses"] = layers
    verdicts = check_claims(rows)

    ours = _table_lines(rows)
    paper_rows = [[row.label, *_paper_cells(row.key)] for row in rows if row.key in PAPER_TABLE1]
    seeds = ", ".join(str(s) for s in info.seeds)
    minutes = info.seconds / 60
    intro = (f"Measured on this machine by `{info.command}` with seeds {seeds}, in {minutes:.1f} minutes. "
             "Cells are the mean over seeds ± the half-width of a 95% Student's t interval (no interval "
             "with one seed); accuracies and emotion UA in %, WER in % (lower is better). `avg` is the "
             "mean of the three task accuracies. Rows marked * go beyond the paper.")
    claims_md = "\n".join(f"- **{v.verdict}**: {v.claim} ({v.evidence})" for v in verdicts)
    figures_md = "\n".join(f"![{name}](figures/{p.name})" for name, p in paths.items())
    md = "\n\n".join([
        "# audistill demo: the paper's ablation ladder, measured here",
        intro,
        "## Table 1, this run\n\n" + _md_table(["setup", *HEADERS], ours),
        "## Table 1, the paper (Qwen2.5-Omni-7B student, Qwen3-8B teacher; MMAU test-mini, IEMOCAP)\n\n"
        + _md_table(["setup", *HEADERS], paper_rows),
        "## The paper's claims, here\n\n" + claims_md,
        "## Figures\n\n" + figures_md,
        *(["## Notes\n\n" + "\n".join(f"- {n}" for n in info.notes)] if info.notes else []),
        *(["## Data\n\n" + info.data_card] if info.data_card else []),
        *(["## Models\n\n" + info.zoo_card] if info.zoo_card else []),
    ]) + "\n"
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", _html(rows, ours, paper_rows, verdicts, paths, intro, info))
    atomic_write_json(out / "report.json", {
        "command": info.command, "seeds": info.seeds, "seconds": info.seconds,
        "rows": table_rows(rows), "claims": [asdict(v) for v in verdicts], "versions": info.versions,
    })
    paths.update({"md": out / "report.md", "html": out / "report.html", "json": out / "report.json"})
    return paths


def _html(rows: Sequence[RowResults], ours: list[list[str]], paper_rows: list[list[str]],
          verdicts: Sequence[ClaimVerdict], figures: dict[str, Path], intro: str, info: RunInfo) -> str:
    claims = "".join(f"<li><b>{html.escape(v.verdict)}</b>: {html.escape(v.claim)} "
                     f"<small>({html.escape(v.evidence)})</small></li>" for v in verdicts)
    images = "".join(f'<figure><img src="figures/{p.name}" alt="{html.escape(n)}"></figure>'
                     for n, p in figures.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in info.notes)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>audistill demo report</title>"
            f"<style>{style}</style></head><body>"
            "<h1>audistill demo: the paper's ablation ladder, measured here</h1>"
            f"<p>{html.escape(intro)}</p><h2>Table 1, this run</h2>"
            + _html_table(["setup", *HEADERS], ours)
            + "<h2>Table 1, the paper</h2>" + _html_table(["setup", *HEADERS], paper_rows)
            + f"<h2>The paper's claims, here</h2><ul>{claims}</ul><h2>Figures</h2>{images}"
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
            + "</body></html>\n")
