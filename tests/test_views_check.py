"""`audistill check` end to end on tiny models of both student families and a 2-row JSONL dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from audistill.cli import app
from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

runner = CliRunner()

TRACE = ("<THINK><PLANNING>Count the beeps.</PLANNING><CAPTION>Two short beeps.</CAPTION><REASONING>I hear "
         "two.</REASONING><SUMMARY>Two.</SUMMARY></THINK><RESPONSE>2</RESPONSE>")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("check")
    tokenizer = build_tiny_tokenizer()
    build_tiny_student("qwen2_audio", root / "qwen2_audio", tokenizer=tokenizer)
    build_tiny_student("qwen2_5_omni", root / "omni", tokenizer=tokenizer)
    build_tiny_text_lm("qwen3", root / "qwen3", tokenizer=tokenizer, vocab_size=448)
    build_tiny_text_lm("qwen2", root / "qwen2", tokenizer=tokenizer)
    build_tiny_text_lm("qwen2", root / "foreign", tokenizer=build_tiny_tokenizer(vocab_size=300))
    rate = 16000
    for name, seconds in (("beeps", 0.9), ("tone", 1.5)):
        t = np.arange(int(rate * seconds)) / rate
        sf.write(root / f"{name}.wav", (0.2 * np.sin(2 * np.pi * 500 * t)).astype(np.float32), rate)
    rows = [
        {"id": "beeps-1", "audio": "beeps.wav", "question": "How many beeps are there?",
         "choices": ["1", "2"], "answer": "2", "task": "sound", "reasoning": TRACE,
         "description": "two short beeps at 500 Hz"},
        {"id": "tone-2", "audio": "tone.wav", "question": "Is the tone rising?", "choices": ["yes", "no"],
         "answer": "no", "task": "sound", "description": "a steady tone"},
    ]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "student": {"path": str(root / "qwen2_audio"), "device": "cpu", "lora": {"enabled": True, "r": 4}},
        "textual_teacher": {"path": str(root / "qwen3"), "device": "cpu"},
        "data": {"train": str(root / "train.jsonl")},
        "train": {"batch_size": 2},
    }
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    return root


def check(world: Path, *overrides: str):
    args = ["check", str(world / "run.yaml")]
    for assignment in overrides:
        args += ["--set", assignment]
    return runner.invoke(app, args)


def test_check_passes_for_qwen2_audio(world):
    result = check(world)
    assert result.exit_code == 0, result.output
    out = result.output
    # beeps: 0.9 s -> 90 mel frames -> 22 audio tokens; tone: 1.5 s -> 150 frames -> 37.
    assert "beeps-1" in out and "tone-2" in out
    row = next(line for line in out.splitlines() if "beeps-1" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[2] == "22"
    assert int(cells[1]) > int(cells[3])  # the student's audio tokens outnumber the teacher's description
    assert "student: qwen2_audio, 2 layers, vocabulary 384" in out
    assert "textual teacher: 4 layers, vocabulary 448" in out
    assert "shared vocabulary: 384" in out
    assert "textual layer pairs (student, teacher): (1, 2), (2, 4)" in out
    assert "acoustic layer pairs (student, frozen student): (1, 1), (2, 2)" in out
    assert "check passed" in out


def test_check_passes_for_the_omni_thinker(world):
    result = check(world, f"student.path={world / 'omni'}", f"textual_teacher.path={world / 'qwen2'}",
                   "textual_teacher.layers.strategy=top", "student.lora.enabled=false")
    assert result.exit_code == 0, result.output
    assert "student: qwen2_5_omni_thinker, 2 layers" in result.output
    assert "textual layer pairs (student, teacher): (2, 4)" in result.output
    row = next(line for line in result.output.splitlines() if "tone-2" in line)
    assert row.split("│")[3].strip() == "37"


def test_check_fails_when_tokenizers_disagree(world):
    result = check(world, f"textual_teacher.path={world / 'foreign'}")
    assert result.exit_code == 1
    assert "example 'beeps-1': student and teacher tokenizers split the target differently" in result.output
    assert "check failed" in result.output


def test_check_fails_on_a_missing_description(world, tmp_path):
    rows = [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()]
    del rows[1]["description"]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = check(world, f"data.train={data}", f"data.audio_root={world}")
    assert result.exit_code == 1
    assert "example 'tone-2'" in result.output and "no audio description" in result.output


def test_check_fails_on_masked_ids_outside_the_shared_vocabulary(world):
    result = check(world, "textual_teacher.mask_token_ids=[5, 400]")
    assert result.exit_code == 1
    assert "textual_teacher.mask_token_ids: ids [400]" in result.output


def test_check_fails_on_an_unreachable_hub_id(world, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = check(world, "student.path=nobody-here/no-such-model")
    assert result.exit_code == 1
    assert "local path is needed" in result.output
