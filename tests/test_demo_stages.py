"""Demo bookkeeping: stage markers and keys decide what a rerun reuses; the ladder's rows and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audistill.demo.describe import slices
from audistill.demo.ladder import ladder, skip_step
from audistill.demo.pipeline import StageTime, covered_seconds
from audistill.demo.rows import row_key
from audistill.demo.settings import DemoSettings
from audistill.demo.stages import MARKER, PENDING, begin, fresh, is_done, mark_done, stage_key


def test_a_stage_is_done_only_with_a_marker_of_the_same_key(tmp_path: Path) -> None:
    folder = tmp_path / "stage"
    key = stage_key("synth", "small", 0)
    assert not is_done(folder, key)  # no folder at all
    folder.mkdir()
    (folder / "half-written.json").write_text("{")
    assert not is_done(folder, key)  # interrupted: files but no marker
    mark_done(folder, key, seconds=3.5)
    assert is_done(folder, key)
    assert not is_done(folder, stage_key("synth", "small", 1))  # another seed is another stage
    (folder / MARKER).write_text("{torn")
    assert not is_done(folder, key)


def test_stage_keys_follow_their_inputs_not_their_order_of_mapping_keys() -> None:
    assert stage_key("row", {"a": 1, "b": 2}) == stage_key("row", {"b": 2, "a": 1})
    assert stage_key("row", {"a": 1}) != stage_key("row", {"a": 2})
    assert len(stage_key("x")) == 16


def test_begin_keeps_partial_work_of_the_same_key_only(tmp_path: Path) -> None:
    folder = tmp_path / "text"
    assert begin(folder, "k1") is False  # nothing to go on from
    (folder / "train.json.partial.jsonl").write_text('{"id": "a", "description": "x"}\n')
    assert begin(folder, "k1") is True  # interrupted with the same inputs: keep the partial file
    assert (folder / "train.json.partial.jsonl").is_file()
    assert begin(folder, "k2") is False  # other inputs (a rebuilt zoo): start over
    assert not (folder / "train.json.partial.jsonl").exists()
    assert json.loads((folder / PENDING).read_text()) == {"key": "k2"}
    mark_done(folder, "k2")
    assert not (folder / PENDING).exists() and is_done(folder, "k2")
    assert begin(folder, "k2") is False  # a finished stage is not "partial work": begin redoes it


def test_fresh_empties_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.txt").write_text("x")
    assert list(fresh(tmp_path / "a").iterdir()) == []


def test_more_seeds_or_extended_rows_reuse_finished_rows_but_other_training_does_not(tmp_path: Path) -> None:
    base = DemoSettings.quick(tmp_path)
    row = ladder(2, extended=False)[1]
    key = row_key(base, row, 0, "zoo")
    assert row_key(DemoSettings.quick(tmp_path, seeds=3, extended=True), row, 0, "zoo") == key
    assert row_key(DemoSettings.quick(tmp_path / "elsewhere"), row, 0, "zoo") == key
    assert row_key(DemoSettings.quick(tmp_path, max_steps=9), row, 0, "zoo") != key
    assert row_key(DemoSettings.quick(tmp_path, eval_limit=5), row, 0, "zoo") != key
    assert row_key(base, row, 1, "zoo") != key
    assert row_key(base, row, 0, "another zoo") != key


def test_ladder_rows_paper_then_beyond() -> None:
    paper = ladder(2, extended=False)
    assert [r.key for r in paper] == ["base", "sft", "text_top", "text_skip", "text_layerwise", "full"]
    assert not paper[0].trains and all(r.trains for r in paper[1:])
    extended = ladder(2, extended=True)
    assert [r.key for r in extended[6:]] == ["acoustic_only", "full_projected", "full_oracle"]
    assert all(r.beyond_paper for r in extended[6:])
    assert {r.key: r.descriptions for r in extended}["full_oracle"] == "oracle"
    assert "textual_teacher.layers.k=2" in paper[3].overrides
    assert skip_step(4) == 2 and skip_step(28) == 7 and skip_step(2) == 2


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="seeds"):
        DemoSettings.quick(Path("x"), seeds=0)
    with pytest.raises(ValueError, match="eval_limit"):
        DemoSettings.quick(Path("x"), eval_limit=0)


def test_describer_slices_keep_order_and_cover_every_example() -> None:
    items = list(range(7))
    assert slices(items, 2) == [[0, 1, 2, 3], [4, 5, 6]]  # type: ignore[arg-type]
    assert slices(items, 3) == [[0, 1, 2], [3, 4], [5, 6]]  # type: ignore[arg-type]
    assert slices(items[:1], 4) == [[0]]  # type: ignore[arg-type]
    assert slices([], 2) == []


def test_run_time_counts_side_by_side_rows_once() -> None:
    times = [StageTime("synth", 0.0, 10.0, reused=True), StageTime("zoo", 10.0, 100.0, reused=True),
             StageTime("a", 100.0, 160.0, reused=False, row=True),
             StageTime("b", 100.0, 130.0, reused=False, row=True),  # beside a
             StageTime("c", 130.0, 190.0, reused=False, row=True),  # beside the end of a
             StageTime("later rerun", 1000.0, 1005.0, reused=False)]  # a gap is not counted
    assert covered_seconds(times) == 190.0 + 5.0
    assert covered_seconds([]) == 0.0
