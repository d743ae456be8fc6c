"""`audistill synth`: wiring, errors, and the time limit of the small preset."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audistill.cli import app
from audistill.synth import SIZE_PRESETS, SynthSizes

runner = CliRunner()


def said(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


def test_synth_writes_the_set_and_points_to_its_card(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(SIZE_PRESETS, "small", SynthSizes({"train": 6, "test": 3}, {"train": 3}))
    out = tmp_path / "set"
    result = runner.invoke(app, ["synth", "--out", str(out), "--seed", "3", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "CARD.md" in said(result.output)
    assert len(json.loads((out / "train.json").read_text())) == 6
    assert len(json.loads((out / "perception" / "train.json").read_text())) == 3
    assert "--size small --seed 3" in (out / "CARD.md").read_text()


def test_unknown_size_is_refused() -> None:
    result = runner.invoke(app, ["synth", "--out", "unused", "--size", "huge"])
    assert result.exit_code == 1
    assert "unknown size 'huge'" in said(result.output) and "small, demo, full" in said(result.output)


def test_a_folder_with_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["synth", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not empty and holds no audistill synth set" in said(result.output)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_espeak_that_cannot_load_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(tmp_path / "missing.so"))
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "set")])
    assert result.exit_code == 1
    assert "pip install espeakng-loader" in said(result.output)


@pytest.mark.slow
def test_small_preset_finishes_within_30_seconds_and_validates(tmp_path: Path) -> None:
    from audistill.data.validate import validate_file

    start = time.perf_counter()
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--size", "small"])
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert elapsed < 30.0
    for name in ("train.json", "dev.json", "test.json", "perception/train.json"):
        assert validate_file(tmp_path / name, max_audio_seconds=5.0).bad == []
