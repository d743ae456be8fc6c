"""The README's recorded figures are the committed reports' figures (issue 7: the README table matches
the recorded run's report)."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _table_after(text: str, marker: str) -> list[str]:
    """The Markdown table rows (lines starting with '|') that first follow `marker`."""
    lines = text[text.index(marker):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setup |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_readme_ladder_table_is_the_recorded_reports():
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "docs/results/demo-seeds3-extended/report.md").read_text()
    ours = _table_after(report, "## Table 1, this run")
    assert len(ours) == 2 + 9  # header, rule, the paper's six rows and three beyond
    assert _table_after(readme, "## Results: the ladder on this machine") == ours


def test_readme_zoo_figures_are_the_recorded_builds():
    readme = (ROOT / "README.md").read_text()
    zoo = json.loads((ROOT / "docs/results/zoo/zoo.json").read_text())
    section = readme[readme.index("## The demo's models (zoo)"):readme.index("## Results: the ladder")]
    figures = {
        "student transcription WER": zoo["student"]["wer"],
        "student emotion UA": zoo["student"]["emotion_ua"],
        "student caption accuracy": zoo["student"]["caption_accuracy"],
        "teacher reasoning accuracy, oracle descriptions": zoo["teacher"]["reasoning_accuracy_oracle"],
        "student reasoning accuracy": zoo["student"]["reasoning_accuracy"],
        "teacher reasoning accuracy, the student's own descriptions":
            zoo["teacher"]["reasoning_accuracy_student_descriptions"],
    }
    for name, value in figures.items():
        row = next(line for line in section.splitlines() if line.startswith(f"| {name}"))
        assert f"| {100 * value:.1f} %" in row, (name, row)
    assert f"It took {round(zoo['timings']['total_seconds']):,} s" in section
