"""`audistill demo` end to end on its own tiny settings: every ladder row (the paper's and the extended
ones) is trained, evaluated and reported, and a rerun with another seed reuses every finished stage."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from audistill.demo.ladder import ladder
from audistill.demo.pipeline import run_demo
from audistill.demo.runner import RowJob, run_jobs
from audistill.demo.settings import DemoSettings
from audistill.synth import SynthSizes

TINY_SIZES = SynthSizes(reasoning={"train": 12, "dev": 6, "test": 6},
                        perception={"train": 12, "dev": 6, "test": 6})


def tiny_settings(out: Path) -> DemoSettings:
    return DemoSettings(out=out, synth_size="small", synth_sizes=TINY_SIZES, zoo_budget="tiny",
                        extended=True, max_steps=2, batch_size=4, eval_batch_size=8, eval_max_new_tokens=12,
                        eval_limit=4)


def said(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return " ".join(file.getvalue().split())


@pytest.mark.slow
def test_demo_trains_evaluates_and_reports_every_row_and_a_rerun_adds_a_seed(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path / "demo")
    console = Console(file=io.StringIO(), width=200)
    paths = run_demo(settings, console)

    keys = [row.key for row in ladder(2, extended=True)]
    assert len(keys) == 9
    for key in keys:
        seed = settings.out / "rows" / key / "seed-0"
        for split in ("test", "perception"):
            metrics = json.loads((seed / "eval" / split / "metrics.json").read_text())
            assert metrics["run"]["n"] == 4, (key, split)
        train = seed / "train" / "metrics.jsonl"
        if key == "base":
            assert not train.exists()  # the untrained base student is evaluated as it is
            continue
        steps = [json.loads(line) for line in train.read_text().splitlines()]
        assert [s["step"] for s in steps] == [1, 2], key
        if key in ("full", "full_projected", "full_oracle", "text_skip", "text_layerwise"):
            assert any(k.startswith("text_layer/") for k in steps[-1]), key
        if key in ("full", "acoustic_only"):
            assert any(k.startswith("acoustic_layer/") for k in steps[-1]), key
        if key == "sft":
            assert "text_top" not in steps[-1] and "acoustic" not in steps[-1]
    # The oracle row's teacher read the benchmark's ground truth, the others the student's descriptions.
    oracle = json.loads((settings.out / "text" / "oracle" / "train.json").read_text())
    heard = json.loads((settings.out / "text" / "student" / "train.json").read_text())
    assert len(oracle) == len(heard) == 12
    assert [r["description"] for r in oracle] != [r["description"] for r in heard]

    report = json.loads(paths["json"].read_text())
    assert [row["key"] for row in report["rows"]] == keys
    assert all(row["seeds"] == [0] for row in report["rows"])
    markdown = paths["md"].read_text()
    for row in ladder(2, extended=True):
        assert row.label in markdown and row.label in paths["html"].read_text()
    for figure in ("accuracy", "training_curves", "layer_losses"):
        assert paths[figure].is_file() and f"figures/{paths[figure].name}" in markdown
    assert report["seconds"] > 0

    # A rerun with a second seed and the paper's rows only reuses the benchmark, the zoo, the descriptions
    # and every finished (row, seed 0): only seed 1 of the five trained rows is run.
    finished = {key: (settings.out / "rows" / key / "seed-0" / ".stage.json").stat().st_mtime_ns
                for key in keys}
    again = Console(file=io.StringIO(), width=200)
    paths = run_demo(replace(settings, seeds=2, extended=False), again)
    log = said(again)
    assert "benchmark: reusing" in log and "zoo: reusing" in log and "textualize (student): reusing" in log
    assert "textualize (oracle)" not in log  # no row of the paper's ladder reads the oracle descriptions
    assert log.count("(seed 0): reusing") == 6 and "5 (row, seed) job(s) to run" in log
    assert finished == {key: (settings.out / "rows" / key / "seed-0" / ".stage.json").stat().st_mtime_ns
                        for key in keys}
    report = json.loads(paths["json"].read_text())
    assert [row["key"] for row in report["rows"]] == keys[:6]
    assert report["seeds"] == [0, 1]
    for row in report["rows"]:
        if row["key"] == "base":  # evaluated once: no interval
            assert row["seeds"] == [0] and row["avg"]["ci95"] is None
        else:
            assert row["seeds"] == [0, 1] and math.isfinite(row["avg"]["ci95"])
            assert (settings.out / "rows" / row["key"] / "seed-1" / "train" / "metrics.jsonl").is_file()


def test_a_failing_row_names_itself_and_its_log_which_holds_the_traceback(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path / "demo")
    base = ladder(2, extended=False)[0]
    missing = tmp_path / "no-such-student"
    jobs = [RowJob(settings, base, 0, missing, missing, None, tmp_path / "data", "zoo"),
            RowJob(settings, base, 1, missing, missing, None, tmp_path / "data", "zoo")]
    with pytest.raises(RuntimeError, match=r"base student \(no training\) \(seed \d\) failed") as caught:
        run_jobs(jobs, workers=2, console=Console(file=io.StringIO()))
    log = Path(str(caught.value).rsplit("its log: ", 1)[1])
    assert log.name in ("seed-0.log", "seed-1.log") and "Traceback" in log.read_text()
    assert not (jobs[0].folder / ".stage.json").exists()  # nothing was marked finished
