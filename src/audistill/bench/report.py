"""The bench's results: the JSON record, the goals of issue 8 checked against it, and the printed tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

STEP_LABELS: dict[str, str] = {
    "sft": "SFT",
    "full_online": "full, online, top-32 lens layers",
    "full_online_exact_lens": "full, online, full-vocab lens",
    "full_online_projected": "full, online, projected layers",
    "full_cached": "full, text teacher cached",
    "acoustic_truncated": "acoustic teacher fwd, cut",
    "acoustic_full": "acoustic teacher fwd, whole",
    "ours_text_jsd": "text JSD step, audistill",
    "trl_gkd": "text JSD step, TRL GKD",
}


@dataclass(frozen=True)
class Goal:
    key: str
    limit: float
    label: str


GOALS: tuple[Goal, ...] = (
    Goal("ratio_full_online", 1.5, "full online / SFT time"),
    Goal("ratio_full_cached", 1.15, "full cached / SFT time"),
    Goal("peak_mem_ratio_acoustic_adapter", 1.05, "peak mem adapter / LoRA SFT"),
    Goal("cache_bytes_per_token_k32", 200.0, "cache bytes/token, k=32"),
    Goal("ratio_vs_trl_gkd", 0.8, "text JSD ours / TRL time"),
)


def goal_value(result: dict[str, Any], goal: Goal) -> float | None:
    if goal.key == "cache_bytes_per_token_k32":
        value = result.get("cache_bytes_per_token", {}).get("32")
    else:
        value = result.get(goal.key)
    return None if value is None else float(value)


def check_goals(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal: its value, its limit and whether it holds (None when the figure is missing)."""
    checked = {}
    for goal in GOALS:
        value = goal_value(result, goal)
        checked[goal.key] = {"value": value, "limit": goal.limit,
                             "met": None if value is None else value <= goal.limit}
    return checked


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.2f} {unit}".strip()


def steps_table(result: dict[str, Any]) -> Table:
    peak = result["machine"]["matmul_flop_per_s"]
    table = Table(title="audistill bench: step times (medians over interleaved rounds; x SFT: median "
                  "ratio to the SFT steps just before and after, in brackets the interval between order "
                  "statistics that holds the true median with >= 95 % probability)", title_justify="left")
    for column in ("step", "median s", "x SFT", "FLOP/step", "FLOP/s", "% peak"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, stats in result["steps"].items():
        flops, rate = stats.get("flops"), stats.get("flop_per_s")
        ratio = "-" if stats.get("x_sft") is None else f"{stats['x_sft']:.2f}"
        interval = stats.get("x_sft_interval")
        if interval is not None:
            ratio += f" ({interval['low']:.2f}-{interval['high']:.2f})"
        table.add_row(STEP_LABELS.get(name, name), f"{stats['median_s']:.3f}", ratio, _si(flops),
                      _si(rate), "-" if rate is None else f"{100 * rate / peak:.0f}")
    return table


PHASE_COLUMNS: dict[str, str] = {
    "sft": "SFT",
    "full_online": "online",
    "full_online_exact_lens": "exact lens",
    "full_online_projected": "projected",
    "full_cached": "cached",
}


def phases_table(result: dict[str, Any]) -> Table:
    """Milliseconds per phase of each trainer variant's step (medians over the phase-clock steps)."""
    phase_s: dict[str, dict[str, float]] = result.get("phase_s", {})
    variants = [v for v in PHASE_COLUMNS if v in phase_s]
    table = Table(title="audistill bench: where a step's time goes (ms, medians over a few more steps of "
                  "each variant run back to back, after the rounds; the objective includes the gradients "
                  "the fused losses take in their forward)", title_justify="left")
    table.add_column("phase", justify="left")
    for variant in variants:
        table.add_column(PHASE_COLUMNS[variant], justify="right")
    names: list[str] = []
    for variant in variants:
        names += [n for n in phase_s[variant] if n not in names and n != "step"]
    names.append("step")
    for name in names:
        cells = (f"{1000 * phase_s[v][name]:.1f}" if name in phase_s[v] else "-" for v in variants)
        table.add_row(name, *cells)
    return table


def goals_table(result: dict[str, Any]) -> Table:
    table = Table(title="audistill bench: figures and goals", title_justify="left")
    for column in ("figure", "value", "goal", "holds", "95 % interval"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for goal in GOALS:
        check = result["goals"][goal.key]
        value = check["value"]
        shown = "-" if value is None else f"{value:.3f}"
        holds = "missing" if check["met"] is None else ("yes" if check["met"] else "NO")
        interval = result.get(f"{goal.key}_interval")
        span = "" if interval is None else f"{interval['low']:.3f}-{interval['high']:.3f}"
        table.add_row(goal.label, shown, f"<= {goal.limit:g}", holds, span)
    extra = [
        ("full online, full-vocab lens / SFT time", result.get("ratio_full_online_exact_lens")),
        ("full online projected / SFT time", result.get("ratio_full_online_projected")),
        ("peak mem frozen copy / LoRA SFT", result.get("peak_mem_ratio_acoustic_copy")),
        ("acoustic fwd time saved by cut", result.get("acoustic_truncation_saving")),
    ]
    for key, size in sorted(result.get("cache_bytes_per_token", {}).items(), key=lambda kv: int(kv[0])):
        if key != "32":
            extra.append((f"cache bytes/token, k={key}", size))
    for label, value in extra:
        table.add_row(label, "-" if value is None else f"{value:.3f}", "", "", "")
    return table


def machine_line(result: dict[str, Any]) -> str:
    m, tokens = result["machine"], result["tokens"]
    load = ", ".join(f"{x:.2f}" for x in m["load_average_start"])
    return (f"{m['device']}, {m['threads']} torch thread(s), load average at start {load}; matmul peak "
            f"{_si(m['matmul_flop_per_s'], 'FLOP/s')}. Batch {tokens['batch']}: student "
            f"{tokens['student']} tokens ({tokens['audio']} audio, {tokens['target']} target), teacher "
            f"{tokens['teacher']} tokens; memory: {result['memory_method']}")


def print_report(result: dict[str, Any], console: Console) -> None:
    console.print(steps_table(result))
    console.print(phases_table(result))
    console.print(goals_table(result))
    console.print(machine_line(result), highlight=False, soft_wrap=False)
