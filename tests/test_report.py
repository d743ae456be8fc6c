"""Report: Table 1 values from eval metrics, CIs over seeds, claims stated plainly, files written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from audistill.report.claims import check_claims
from audistill.report.render import RunInfo, write_report
from audistill.report.table import RowResults, SeedResult, row_cells, seed_values


def metrics(sound: float, music: float, speech: float) -> dict:
    return {"overall": {"accuracy": (sound + music + speech) / 3},
            "task": {"sound": {"accuracy": sound}, "music": {"accuracy": music},
                     "speech": {"accuracy": speech}}}


def perception(ua: float, wer: float) -> dict:
    return {"emotion": {"ua": ua}, "transcription": {"wer": wer}}


def row(key: str, values: list[tuple[float, float, float, float]], curves: bool = False) -> RowResults:
    seeds = []
    for seed, (sound, music, speech, ua) in enumerate(values):
        train = [{"step": s, "loss": 2.0 / s, "sft": 1.0 / s, "text_layer/1-2": 0.5 / s,
                  "acoustic_layer/1": 0.1 / s} for s in range(1, 6)] if curves else []
        seeds.append(SeedResult(seed, metrics(sound, music, speech), perception(ua, 0.1), train))
    return RowResults(key, key.upper(), seeds)


def test_seed_values_are_percent_and_avg_is_mean_of_tasks() -> None:
    values = seed_values(SeedResult(0, metrics(0.5, 0.6, 0.7), perception(0.8, 0.25)))
    assert values["sound"] == pytest.approx(50.0)
    assert values["avg"] == pytest.approx(60.0)
    assert values["emotion_ua"] == pytest.approx(80.0) and values["wer"] == pytest.approx(25.0)


def test_cells_are_mean_and_t_interval_over_seeds() -> None:
    cells = row_cells(row("sft", [(0.5, 0.5, 0.5, 0.5), (0.6, 0.5, 0.5, 0.5), (0.7, 0.5, 0.5, 0.5)]))
    assert cells["sound"].mean == pytest.approx(60.0)
    # s = 10, t_{0.975, 2} = 4.3027, half = 4.3027 * 10 / sqrt(3)
    assert cells["sound"].half_width == pytest.approx(4.302653 * 10 / math.sqrt(3), rel=1e-5)
    single = row_cells(row("sft", [(0.5, 0.5, 0.5, 0.5)]))
    assert math.isnan(single["sound"].half_width)


def test_claims_follow_the_measured_means() -> None:
    rows = [
        row("base", [(0.2, 0.2, 0.2, 0.9)]),
        row("sft", [(0.6, 0.6, 0.6, 0.7)]),
        row("text_top", [(0.6, 0.6, 0.61, 0.7)]),
        row("text_skip", [(0.6, 0.6, 0.62, 0.7)]),
        row("text_layerwise", [(0.6, 0.6, 0.65, 0.6)]),
        row("full", [(0.7, 0.6, 0.65, 0.8)]),
    ]
    verdicts = {v.claim.split(":")[0]: v for v in check_claims(rows)}
    assert verdicts["SFT alone hurts reasoning"].verdict == "does not hold"
    assert verdicts["SFT alone erodes acoustic skills"].verdict == "holds"
    assert verdicts["More layers of text KD help reasoning"].verdict == "holds"
    assert verdicts["Text KD alone erodes acoustic skills"].verdict == "holds"
    assert verdicts["The acoustic teacher wins them back"].verdict == "holds"
    assert verdicts["The full method gives the best average of all rows."].verdict == "holds"
    assert "BASE 20.0 < SFT 60.0 on avg" in verdicts["SFT alone hurts reasoning"].evidence


def test_missing_rows_are_not_measured_and_overlap_is_flagged() -> None:
    rows = [row("base", [(0.5, 0.5, 0.5, 0.9), (0.6, 0.5, 0.5, 0.9)]),
            row("sft", [(0.55, 0.5, 0.5, 0.5), (0.45, 0.5, 0.5, 0.5)])]
    verdicts = check_claims(rows)
    assert verdicts[0].verdict == "holds" and "within noise" in verdicts[0].evidence
    assert verdicts[2].verdict == "not measured"


def test_write_report_makes_every_file(tmp_path: Path) -> None:
    rows = [row("base", [(0.2, 0.2, 0.2, 0.9)]), row("full", [(0.7, 0.6, 0.65, 0.8)], curves=True)]
    paths = write_report(rows, tmp_path, RunInfo("audistill demo --quick", [0], 61.0))
    for name in ("md", "html", "json", "accuracy", "training_curves", "layer_losses"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0, name
    md = paths["md"].read_text()
    assert "| FULL | 70.0 | 60.0 | 65.0 | 65.0 | 80.0 | 10.0 |" in md
    assert "74.47" in md  # the paper's numbers beside ours
    assert "1.0 minutes" in md
    report = json.loads(paths["json"].read_text(), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert report["rows"][1]["sound"]["per_seed"] == [pytest.approx(70.0)]
    assert report["rows"][1]["sound"]["ci95"] is None  # one seed: no interval, written as null
    assert "<table>" in paths["html"].read_text()
