"""The report's figures: accuracy per category per row, training curves per loss term, and the
per-layer distillation loss. PNG files, drawn with matplotlib's non-interactive backend."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from audistill.report.table import RowResults, row_cells

LOSS_TERMS = ("loss", "sft", "text_top", "text_layers", "acoustic")
LAYER_KEY = re.compile(r"^(text_layer|acoustic_layer)/(\d+)(?:-(\d+))?$")


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def row_colors(rows: Sequence[RowResults]) -> dict[str, str]:
    """A row keeps its colour in every figure (its place in the ladder), whichever rows a panel shows."""
    return {row.label: f"C{index % 10}" for index, row in enumerate(rows)}


def plot_accuracy(rows: Sequence[RowResults], path: Path) -> Path:
    columns = ("sound", "music", "speech", "avg", "emotion_ua")
    fig, ax = plt.subplots(figsize=(max(7.0, 1.4 * len(rows) + 3), 4.2))
    width = 0.8 / max(len(rows), 1)
    for index, row in enumerate(rows):
        cells = row_cells(row)
        means = [cells[c].mean for c in columns]
        errors = [0.0 if math.isnan(cells[c].half_width) else cells[c].half_width for c in columns]
        xs = [c + index * width for c in range(len(columns))]
        ax.bar(xs, means, width, yerr=errors, capsize=2, label=row.label, color=row_colors(rows)[row.label])
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(columns))])
    ax.set_xticklabels(["sound", "music", "speech", "average", "emotion UA"])
    ax.set_ylabel("% (mean over seeds, 95% CI)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Accuracy per category and row")
    return _save(fig, path)


def plot_training_curves(rows: Sequence[RowResults], path: Path) -> Path | None:
    trained = [r for r in rows if r.seeds and r.seeds[0].train_metrics]
    if not trained:
        return None
    terms = [t for t in LOSS_TERMS if any(t in m for r in trained for m in r.seeds[0].train_metrics)]
    fig, axes = plt.subplots(1, len(terms), figsize=(3.4 * len(terms), 3.2), squeeze=False)
    colors = row_colors(rows)
    for ax, term in zip(axes[0], terms, strict=True):
        for row in trained:
            points = [(m["step"], m[term]) for m in row.seeds[0].train_metrics if term in m]
            if points:
                ax.plot(*zip(*points, strict=True), label=row.label, linewidth=1, color=colors[row.label])
        ax.set_title(term)
        ax.set_xlabel("optimizer step")
        ax.set_yscale("log")
    _legend(fig, axes[0], rows)
    fig.suptitle("Training curves per loss term (first seed)", y=1.04)
    return _save(fig, path)


def _legend(fig: plt.Figure, axes: Sequence[plt.Axes], rows: Sequence[RowResults]) -> None:
    """One legend for the figure, in ladder order, with every row that appears in any panel (a row
    without a term is absent from that term's panel, so no single panel's legend names them all)."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    labels = [row.label for row in rows if row.label in handles]
    fig.legend([handles[label] for label in labels], labels, fontsize=7, loc="upper left",
               bbox_to_anchor=(1.0, 0.95))


def layer_losses(metrics: Sequence[dict[str, float]], tail: int = 10) -> dict[str, dict[int, float]]:
    """Mean per-layer loss over the last `tail` logged steps, by kind ("text_layer" / "acoustic_layer")
    and student layer."""
    window = list(metrics)[-tail:]
    sums: dict[str, dict[int, list[float]]] = {}
    for entry in window:
        for key, value in entry.items():
            match = LAYER_KEY.match(key)
            if match:
                sums.setdefault(match.group(1), {}).setdefault(int(match.group(2)), []).append(value)
    return {kind: {layer: sum(v) / len(v) for layer, v in sorted(by_layer.items())}
            for kind, by_layer in sums.items()}


def plot_layer_losses(rows: Sequence[RowResults], path: Path) -> Path | None:
    series = [(row.label, layer_losses(row.seeds[0].train_metrics)) for row in rows
              if row.seeds and row.seeds[0].train_metrics]
    kinds = sorted({kind for _, losses in series for kind in losses})
    if not kinds:
        return None
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.2), squeeze=False)
    colors = row_colors(rows)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for label, losses in series:
            if kind in losses:
                layers = list(losses[kind])
                ax.plot(layers, [losses[kind][i] for i in layers], marker="o", label=label, linewidth=1,
                        color=colors[label])
        ax.set_title(f"{kind.replace('_', ' ')} loss (last steps)")
        ax.set_xlabel("student layer")
        ax.xaxis.get_major_locator().set_params(integer=True)
    _legend(fig, axes[0], rows)
    return _save(fig, path)
