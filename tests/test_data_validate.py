"""Row-level validation: every bad-row kind with its line, counts, quarantine, exit codes, loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audistill.cli import app
from audistill.config import DataConfig
from audistill.data import validate as validate_module
from audistill.data.audio import (
    AUDIO_EMPTY,
    AUDIO_MISSING,
    AUDIO_NOT_FINITE,
    AUDIO_TOO_LONG,
    AUDIO_UNDECODABLE,
)
from audistill.data.rows import DataError, Reason
from audistill.data.trace import Trace, format_trace
from audistill.data.validate import load_configured, load_dataset, validate_file

runner = CliRunner()


def tone(path: Path, seconds: float = 0.1, rate: int = 16000, channels: int = 1) -> None:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    sf.write(path, np.stack([samples] * channels, axis=1), rate)


@pytest.fixture()
def audio_dir(tmp_path: Path) -> Path:
    """Clips for every audio case: good (mono, stereo 44.1 kHz), and each kind of unusable file."""
    clips = tmp_path / "clips"
    clips.mkdir()
    tone(clips / "good.wav")
    tone(clips / "stereo.flac", rate=44100, channels=2)
    (clips / "garbage.wav").write_bytes(b"RIFF----WAVEfmt nonsense")
    sf.write(clips / "empty.wav", np.zeros((0,), dtype=np.float32), 16000, subtype="FLOAT")
    nan = np.full(800, 0.1, dtype=np.float32)
    nan[5] = np.nan
    sf.write(clips / "nan.wav", nan, 16000, subtype="FLOAT")
    tone(clips / "long.wav", seconds=3.0, rate=8000)
    return clips


def row(row_id: str, **overrides: Any) -> dict[str, Any]:
    base = {"id": row_id, "audio": "clips/good.wav", "question": "Which pitch is higher?",
            "choices": ["first", "second"], "answer": "first", "task": "music"}
    base.update(overrides)
    return base


BAD_ROWS: list[tuple[str, Any, str, str]] = [
    # (name, row or raw line, summary reason, text the message must hold)
    ("unparseable", '{"id": "u1", "audio": ', Reason.UNPARSEABLE, "line is not valid JSON"),
    ("missing field", {k: v for k, v in row("b-missing").items() if k != "choices"}, Reason.MISSING_FIELD,
     "missing required field 'choices'"),
    ("empty question", row("b-question", question="   "), Reason.EMPTY_QUESTION, "question is empty"),
    ("empty answer", row("b-answer", answer=""), Reason.EMPTY_ANSWER, "answer is empty"),
    ("one choice", row("b-one", choices=["first"]), Reason.TOO_FEW_CHOICES, "choices has 1 entry"),
    ("duplicate choices", row("b-dupchoice", choices=["first", "second", "first"]),
     Reason.DUPLICATE_CHOICES, "choices repeat ['first']"),
    ("answer not in choices", row("b-notin", answer="third"), Reason.ANSWER_NOT_IN_CHOICES,
     "answer 'third' is not one of the choices"),
    ("bad task", row("b-task", task="noise"), Reason.BAD_TASK, "task 'noise' is not one of sound | music"),
    ("bad difficulty", row("b-diff", difficulty="trivial"), Reason.BAD_DIFFICULTY, "difficulty 'trivial'"),
    ("duplicate id", row("good-0"), Reason.DUPLICATE_ID, "duplicate id 'good-0' (first at "),
    ("bad trace", row("b-trace", reasoning="<THINK><PLANNING>p</PLANNING>"), Reason.BAD_TRACE,
     "<CAPTION> is missing"),
    ("audio missing", row("b-nofile", audio="clips/none.wav"), AUDIO_MISSING, "audio file not found"),
    ("audio undecodable", row("b-garbage", audio="clips/garbage.wav"), AUDIO_UNDECODABLE,
     "cannot decode audio"),
    ("audio empty", row("b-empty", audio="clips/empty.wav"), AUDIO_EMPTY, "audio is empty"),
    ("audio nan", row("b-nan", audio="clips/nan.wav"), AUDIO_NOT_FINITE, "NaN or inf"),
    ("audio too long", row("b-long", audio="clips/long.wav"), AUDIO_TOO_LONG, "above the maximum of 2 s"),
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(("name", "bad", "reason", "message"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_each_bad_row_kind_is_reported_with_its_line(
    tmp_path: Path, audio_dir: Path, name: str, bad: Any, reason: str, message: str
) -> None:
    rows = [row("good-0"), row("good-1", audio="clips/stereo.flac"), bad]
    path = write_jsonl(tmp_path / "data.jsonl", rows)
    report = validate_file(path, max_audio_seconds=2.0)
    assert (report.rows_read, report.ok, len(report.bad)) == (3, 2, 1)
    (error,) = report.bad
    assert error.origin == f"{path}:3"
    assert error.reason == reason
    assert message in error.message
    expected_id = "-" if isinstance(bad, str) else bad["id"]
    assert error.line().startswith(f"{path}:3 {expected_id} ")


def test_a_row_with_several_problems_lists_them_all_and_counts_once(tmp_path: Path, audio_dir: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row("x", answer="third", task="noise", audio="clips/none.wav")])
    report = validate_file(path)
    (error,) = report.bad
    assert error.reason == Reason.ANSWER_NOT_IN_CHOICES  # the first problem names the summary row
    assert all(part in error.message for part in ("answer 'third'", "task 'noise'", "audio file not found"))
    assert report.bad_by_reason() == {Reason.ANSWER_NOT_IN_CHOICES: 1}


def test_open_ended_rows_need_no_choices(tmp_path: Path, audio_dir: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row("open", choices=[], answer="a rising melody")])
    assert validate_file(path).ok == 1


def _all_bad_file(tmp_path: Path) -> tuple[Path, list[Any]]:
    rows: list[Any] = [row(f"good-{i}") for i in range(3)]
    bad_rows = [bad for _, bad, _, _ in BAD_ROWS]
    for bad in bad_rows:  # interleave good rows so line numbers are not just consecutive
        rows += [bad, row(f"good-{len(rows)}", audio="clips/stereo.flac")]
    return write_jsonl(tmp_path / "data.jsonl", rows), bad_rows


def test_cli_prints_each_bad_row_and_a_summary_and_exits_1(tmp_path: Path, audio_dir: Path) -> None:
    path, bad_rows = _all_bad_file(tmp_path)
    result = runner.invoke(app, ["validate", str(path), "--max-audio-seconds", "2"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    for k, (_, bad, _, message) in enumerate(BAD_ROWS):
        line_number = 4 + 2 * k
        row_id = "-" if isinstance(bad, str) else bad["id"]
        printed = [line for line in lines if line.startswith(f"{path}:{line_number} ")]
        assert len(printed) == 1, (line_number, result.output)
        assert printed[0].startswith(f"{path}:{line_number} {row_id} ") and message in printed[0]
    rows_read = 3 + 2 * len(bad_rows)
    summary = {" ".join(cells[:-1]): int(cells[-1]) for line in lines
               if (cells := line.strip("│┃ ").replace("│", " ").split()) and cells[-1].isdigit()}
    assert summary["read"] == rows_read
    assert summary["ok"] == rows_read - len(bad_rows)
    assert summary["bad"] == len(bad_rows)
    assert summary["duplicate id"] == 1 and summary["audio too long"] == 1


def test_cli_quarantine_holds_exactly_the_bad_rows_and_exits_0(tmp_path: Path, audio_dir: Path) -> None:
    path, bad_rows = _all_bad_file(tmp_path)
    quarantine = tmp_path / "out" / "bad.jsonl"
    result = runner.invoke(app, ["validate", str(path), "--max-audio-seconds", "2",
                                 "--quarantine", str(quarantine)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert len(written) == len(bad_rows)
    for k, (got, bad) in enumerate(zip(written, bad_rows, strict=True)):
        reason = got.pop("reason")
        assert got.pop("origin") == f"{path}:{4 + 2 * k}"
        assert got == ({"raw": bad} if isinstance(bad, str) else bad)
        assert BAD_ROWS[k][3] in reason


def test_cli_clean_file_exits_0_and_quarantine_is_empty(tmp_path: Path, audio_dir: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row("a"), row("b", audio="clips/stereo.flac")])
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    quarantine = tmp_path / "q.jsonl"
    assert runner.invoke(app, ["validate", str(path), "--quarantine", str(quarantine)]).exit_code == 0
    assert quarantine.read_text() == ""


def test_cli_file_level_errors_exit_1_with_the_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.json")])
    assert result.exit_code == 1 and "data file not found" in result.output
    bad_format = runner.invoke(app, ["validate", str(tmp_path / "none.json"), "--format", "csv"])
    assert bad_format.exit_code == 1 and "data.format" in bad_format.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert runner.invoke(app, ["validate", str(empty)]).exit_code == 1


def test_cli_takes_defaults_from_a_config_and_options_override_it(tmp_path: Path, audio_dir: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row("a"), row("b", audio="clips/long.wav")])  # 3 s clip
    config = tmp_path / "run.yaml"
    config.write_text("data:\n  max_audio_seconds: 2.0\n")
    strict = runner.invoke(app, ["validate", str(path), "--config", str(config)])
    assert strict.exit_code == 1 and f"{path}:2 b " in strict.output
    assert runner.invoke(app, ["validate", str(path), "--config", str(config),
                               "--max-audio-seconds", "4"]).exit_code == 0
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0  # default maximum: 30 s
    negative = runner.invoke(app, ["validate", str(path), "--max-audio-seconds", "-1"])
    assert negative.exit_code == 1 and "data.max_audio_seconds" in negative.output


def _mmau_file(tmp_path: Path, n: int) -> Path:
    audio = tmp_path / "test-mini-audios"
    audio.mkdir()
    rows = []
    for i in range(n):
        tone(audio / f"{i}.wav", rate=16000 if i % 2 else 44100, channels=1 + i % 2)
        rows.append({"id": f"q{i}", "audio_id": f"./test-mini-audios/{i}.wav", "question": "Which?",
                     "choices": ["a", "b", "c", "d"], "answer": "c", "dataset": "synth",
                     "task": ("sound", "music", "speech")[i % 3], "split": "test-mini", "category": "x",
                     "sub-category": "y", "difficulty": "medium",
                     "reasoning": format_trace(Trace("p", "c", "r", "s", "c")), "meta": {"i": i}})
    path = tmp_path / "mmau.json"
    path.write_text(json.dumps(rows, indent=2))
    return path


def test_a_50_row_mmau_file_validates_through_the_cli(tmp_path: Path) -> None:
    path = _mmau_file(tmp_path, 50)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "format mmau, 50 audio file(s) checked" in result.output
    report = validate_file(path)
    assert (report.rows_read, report.ok, report.bad) == (50, 50, [])


def test_mmau_audio_root_option(tmp_path: Path) -> None:
    path = _mmau_file(tmp_path, 2)
    moved = tmp_path / "elsewhere" / "mmau.json"
    moved.parent.mkdir()
    path.rename(moved)
    assert runner.invoke(app, ["validate", str(moved)]).exit_code == 1  # audio not beside the JSON
    assert runner.invoke(app, ["validate", str(moved), "--audio-root", str(tmp_path)]).exit_code == 0


def test_each_audio_file_is_decoded_once(
    tmp_path: Path, audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = validate_module.decode_and_check

    def counting(path: str, max_seconds: float | None = None) -> Any:
        calls.append(path)
        return real(path, max_seconds)

    monkeypatch.setattr(validate_module, "decode_and_check", counting)
    rows = [row(f"r{i}") for i in range(6)] + [row("s", audio="clips/stereo.flac")]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    report = validate_file(path, workers=3)
    assert report.ok == 7
    assert sorted(calls) == sorted({str(audio_dir / "good.wav"), str(audio_dir / "stereo.flac")})


def test_load_dataset_returns_examples_or_lists_every_bad_row(tmp_path: Path, audio_dir: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [row("a"), row("b")])
    assert [e.id for e in load_dataset(good)] == ["a", "b"]
    rows = [row("a"), row("b", answer="x"), row("c", audio="clips/nan.wav")]
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as caught:
        load_dataset(bad)
    text = str(caught.value)
    assert "2 bad row(s) of 3" in text
    assert f"{bad}:2 b answer 'x'" in text and f"{bad}:3 c " in text and "NaN or inf" in text
    # Without the audio check the NaN file passes; the answer problem does not.
    with pytest.raises(DataError, match="1 bad row"):
        load_dataset(bad, check_audio=False)


def test_load_configured_uses_the_data_section(tmp_path: Path, audio_dir: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row("a"), row("b"), row("c", audio="clips/long.wav")])
    data = DataConfig(train=str(path), max_audio_seconds=5.0)
    assert len(load_configured(data, "train")) == 3
    with pytest.raises(DataError, match=r"audio is 3\.00 s long"):
        load_configured(data.model_copy(update={"max_audio_seconds": 2.0}), "train")
    assert [e.id for e in load_configured(data.model_copy(update={"max_examples": 2}), "train")] == ["a", "b"]
    with pytest.raises(DataError, match=r"data\.dev: no file configured"):
        load_configured(data, "dev")
