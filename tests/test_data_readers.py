"""Readers for our JSONL, MMAU JSON and CoTA; format detection; origins; writers round trip."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audistill.data.example import Example
from audistill.data.readers import iter_rows, read_examples, resolve_format
from audistill.data.rows import DataError, Reason, RowError
from audistill.data.trace import Trace, format_trace, parse_trace
from audistill.data.writers import write_jsonl, write_mmau_json

TRACE = format_trace(Trace("plan", "a dog barks twice", "barking means dog", "it is a dog", "dog"))


def make_wav(path: Path, seconds: float = 0.2, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    return path


def write_lines(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def ours(**overrides: Any) -> dict[str, Any]:
    row = {"id": "a1", "audio": "clips/a.wav", "question": "Which animal?", "choices": ["dog", "cat"],
           "answer": "dog", "task": "sound"}
    row.update(overrides)
    return row


def mmau(**overrides: Any) -> dict[str, Any]:
    row = {"id": "m1", "audio_id": "./test-mini-audios/m1.wav", "question": "Which animal?",
           "choices": ["dog", "cat", "cow", "owl"], "answer": "dog", "dataset": "Clotho", "task": "sound",
           "split": "test-mini", "category": "Sound", "sub-category": "Animal", "difficulty": "easy"}
    row.update(overrides)
    return row


def cota_messages(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "You are an audio deep-thinking model."},
            {"role": "user", "content": "<audio>What animal is heard?"},
            {"role": "assistant", "content": TRACE},
        ],
        "audios": ["wavs/c1.wav"],
        "task": "sound",
    }
    row.update(overrides)
    return row


# --- our JSONL -----------------------------------------------------------------------------------


def test_jsonl_reads_every_field_and_resolves_audio_next_to_the_file(tmp_path: Path) -> None:
    make_wav(tmp_path / "data" / "clips" / "a.wav")
    absolute = make_wav(tmp_path / "elsewhere" / "b.wav")
    path = write_lines(tmp_path / "data" / "train.jsonl", [
        ours(sub_category="animals", difficulty="easy", category="Sound", split="train", reasoning=TRACE,
             description="a dog barks", meta={"source": "synth", "f0": 220.0}, model_output="x"),
        ours(id=7, audio=str(absolute)),
    ])
    first, second = read_examples(path)
    assert first.audio == str(tmp_path / "data" / "clips" / "a.wav")
    assert (first.sub_category, first.difficulty, first.category, first.split) == (
        "animals", "easy", "Sound", "train")
    assert parse_trace(first.reasoning or "").response == "dog"
    assert first.description == "a dog barks"
    assert first.meta == {"source": "synth", "f0": 220.0}
    assert first.extra == {"model_output": "x"}
    assert first.origin == f"{path}:1"
    assert second.id == "7"  # integer ids are read as their text
    assert second.audio == str(absolute)
    assert second.origin == f"{path}:2"


def test_audio_root_replaces_the_files_folder_but_not_absolute_paths(tmp_path: Path) -> None:
    absolute = str(tmp_path / "x" / "abs.wav")
    path = write_lines(tmp_path / "train.jsonl", [ours(), ours(id="a2", audio=absolute)])
    root = tmp_path / "audio-root"
    examples = read_examples(path, audio_root=root)
    assert [e.audio for e in examples] == [str(root / "clips" / "a.wav"), absolute]


def test_jsonl_line_numbers_count_blank_lines_and_bad_lines_are_reported(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [ours(), "", '{"id": "broken", ', ours(id="a3"), "[1, 2]"])
    results = [item.result for item in iter_rows(path)]
    assert [r.origin for r in results] == [f"{path}:{n}" for n in (1, 3, 4, 5)]
    unparseable, not_object = results[1], results[3]
    assert isinstance(unparseable, RowError) and unparseable.reason == Reason.UNPARSEABLE
    assert unparseable.raw == '{"id": "broken", '
    assert isinstance(not_object, RowError) and "must be a JSON object" in not_object.message
    with pytest.raises(DataError) as caught:
        read_examples(path)
    assert f"{path}:3 - line is not valid JSON" in str(caught.value)
    assert f"{path}:5" in str(caught.value)


@pytest.mark.parametrize(
    ("row", "reason", "message"),
    [
        ({k: v for k, v in ours().items() if k != "answer"}, Reason.MISSING_FIELD, "'answer'"),
        (ours(choices="dog|cat"), Reason.WRONG_TYPE, "'choices' must be a list of strings, got str"),
        (ours(choices=["dog", 3]), Reason.WRONG_TYPE, "'choices[1]' must be a string, got int"),
        (ours(id=True), Reason.WRONG_TYPE, "'id' must be a string"),
        (ours(meta=[1]), Reason.WRONG_TYPE, "'meta' must be an object"),
        (ours(reasoning="<THINK>half"), Reason.BAD_TRACE, "'reasoning': malformed reasoning trace"),
    ],
)
def test_structural_problems_become_row_errors_with_id_and_origin(
    tmp_path: Path, row: dict[str, Any], reason: str, message: str
) -> None:
    path = write_lines(tmp_path / "d.jsonl", [ours(id="ok"), row])
    results = [item.result for item in iter_rows(path, "jsonl")]
    assert isinstance(results[0], Example)
    error = results[1]
    assert isinstance(error, RowError)
    assert (error.origin, error.reason) == (f"{path}:2", reason)
    assert error.id == (None if row.get("id") is True else str(row.get("id", "a1")))
    assert message in error.message


# --- MMAU JSON ----------------------------------------------------------------------------------


def test_mmau_reads_fields_and_resolves_audio_id_against_the_json_folder(tmp_path: Path) -> None:
    path = tmp_path / "mmau-test-mini.json"
    extra_fields = {"reasoning": TRACE, "meta": {"true_f0": 440}, "model_output": "<RESPONSE>dog</RESPONSE>",
                    "model_prediction": "dog"}
    path.write_text(json.dumps([mmau(), mmau(id="m2", **extra_fields)], indent=2))
    first, second = read_examples(path)
    assert first.audio == str(tmp_path / "test-mini-audios" / "m1.wav")
    assert (first.sub_category, first.category, first.split, first.difficulty) == (
        "Animal", "Sound", "test-mini", "easy")
    assert first.extra == {"dataset": "Clotho"}
    assert first.origin == f"{path}:0" and second.origin == f"{path}:1"
    assert second.reasoning == TRACE and second.meta == {"true_f0": 440}
    assert second.extra == {"dataset": "Clotho", "model_output": "<RESPONSE>dog</RESPONSE>",
                            "model_prediction": "dog"}
    root = tmp_path / "mmau-audio"
    assert read_examples(path, audio_root=root)[0].audio == str(root / "test-mini-audios" / "m1.wav")


def test_a_json_list_that_does_not_parse_is_a_file_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "m1"},\n  {"id": }\n]\n')
    with pytest.raises(DataError, match=rf"{path.name}:3: not valid JSON"):
        read_examples(path)
    with pytest.raises(DataError, match="data file not found"):
        read_examples(tmp_path / "missing.json")


# --- CoTA --------------------------------------------------------------------------------------


def test_cota_ms_swift_messages(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "cota.jsonl", [cota_messages()])
    (example,) = read_examples(path)
    assert example.id == "c1"
    assert example.question == "What animal is heard?"
    assert example.audio == str(tmp_path / "wavs" / "c1.wav")
    assert example.reasoning == TRACE
    assert example.answer == "dog"  # the RESPONSE part
    assert example.choices == []  # open-ended
    assert example.extra == {"system": "You are an audio deep-thinking model."}


def test_cota_content_parts_sharegpt_and_alpaca_layouts(tmp_path: Path) -> None:
    parts = {"messages": [
        {"role": "user", "content": [{"type": "audio", "audio": "/abs/p.wav"},
                                     {"type": "text", "text": "What animal?"}]},
        {"role": "assistant", "content": TRACE}], "task": "sound", "choices": ["dog", "cat"], "answer": "dog"}
    sharegpt = {"id": "s1", "conversations": [{"from": "human", "value": "<audio>\nWhat animal?"},
                                              {"from": "gpt", "value": TRACE}],
                "audio": "s1.wav", "task": "sound"}
    alpaca = {"instruction": "What animal?", "input": "<audio>", "output": TRACE, "system": "Think.",
              "history": [], "audio_path": "/data/a.wav", "task": "sound"}
    path = tmp_path / "cota.json"
    path.write_text(json.dumps([parts, sharegpt, alpaca]))
    first, second, third = read_examples(path, format="cota")
    assert (first.audio, first.question, first.choices, first.answer) == (
        "/abs/p.wav", "What animal?", ["dog", "cat"], "dog")
    assert first.id == "cota-0"  # no id: file stem and list index
    assert (second.id, second.audio, second.question) == ("s1", str(tmp_path / "s1.wav"), "What animal?")
    assert (third.audio, third.question, third.answer) == ("/data/a.wav", "What animal?", "dog")
    assert third.extra == {"system": "Think."}


def test_cota_plain_assistant_text_is_the_answer(tmp_path: Path) -> None:
    row = cota_messages(messages=[{"role": "user", "content": "<audio>Describe it."},
                                  {"role": "assistant", "content": "A dog barks twice."}])
    (example,) = read_examples(write_lines(tmp_path / "c.jsonl", [row]))
    assert (example.answer, example.reasoning) == ("A dog barks twice.", None)


@pytest.mark.parametrize(
    ("row", "reason", "message"),
    [
        (cota_messages(task=None), Reason.MISSING_FIELD, "'task'"),
        (cota_messages(audios=[]), Reason.MISSING_FIELD, "missing audio path"),
        (cota_messages(audios=["a.wav", "b.wav"]), Reason.BAD_CONVERSATION, "one audio clip per row"),
        (cota_messages(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                 {"role": "user", "content": "q2"}, {"role": "assistant", "content": "b"}]),
         Reason.BAD_CONVERSATION, "one user turn then one assistant turn"),
        (cota_messages(messages=[{"role": "narrator", "content": "q"}]), Reason.BAD_CONVERSATION,
         "unknown role 'narrator'"),
        (cota_messages(messages=[{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "<THINK><PLANNING>p</PLANNING></THINK>"}]),
         Reason.BAD_TRACE, "<CAPTION> is missing"),
    ],
)
def test_cota_problems_are_row_errors(tmp_path: Path, row: dict[str, Any], reason: str, message: str) -> None:
    path = write_lines(tmp_path / "c.jsonl", [row])
    (item,) = list(iter_rows(path, "cota"))
    assert isinstance(item.result, RowError)
    assert (item.result.origin, item.result.id, item.result.reason) == (f"{path}:1", "c1", reason)
    assert message in item.result.message


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["jsonl", "json"])
@pytest.mark.parametrize(("fmt", "row"), [("jsonl", ours()), ("mmau", mmau()), ("cota", cota_messages())])
def test_auto_detects_the_format_in_either_container(tmp_path: Path, container: str, fmt: str,
                                                     row: dict[str, Any]) -> None:
    path = tmp_path / f"data.{container}"
    if container == "json":
        path.write_text(json.dumps([row, row], indent=2))
    else:
        write_lines(path, ["not json", row])  # detection looks past rows that do not parse
    assert resolve_format(path) == fmt
    assert sum(isinstance(item.result, Example) for item in iter_rows(path)) == 2 - (container == "jsonl")


def test_undetectable_format_asks_for_format(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [{"path": "a.wav", "label": "dog"}])
    with pytest.raises(DataError, match=r"cannot detect the data format.*pass --format"):
        read_examples(path)
    with pytest.raises(DataError, match="unknown format 'csv'"):
        read_examples(path, format="csv")


# --- writers -----------------------------------------------------------------------------------


def _examples(tmp_path: Path) -> list[Example]:
    audio = tmp_path / "set" / "clips"
    return [
        Example(id="e1", audio=str(audio / "a.wav"), question="Which?", choices=["x", "y"], answer="x",
                task="music", sub_category="pitch", difficulty="hard", category="Music", split="test",
                reasoning=TRACE, description="a tone", meta={"f0": 440.0}),
        Example(id="e2", audio=str(tmp_path / "outside.wav"), question="Say?", choices=[], answer="hello",
                task="speech", extra={"dataset": "synth", "model_output": "hi"}),
    ]


def _without_origin(examples: list[Example]) -> list[Example]:
    return [replace(e, origin="") for e in examples]


def test_jsonl_writer_round_trips_with_portable_audio_paths(tmp_path: Path) -> None:
    examples = _examples(tmp_path)
    path = tmp_path / "set" / "data.jsonl"
    write_jsonl(examples, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0]["audio"] == "clips/a.wav"
    assert rows[1]["audio"] == str(tmp_path / "outside.wav")
    assert _without_origin(read_examples(path)) == examples
    assert os.listdir(path.parent) == ["data.jsonl"]  # the atomic write left no temp file


def test_mmau_writer_round_trips_with_mmau_field_names(tmp_path: Path) -> None:
    examples = _examples(tmp_path)
    path = tmp_path / "set" / "mmau.json"
    write_mmau_json(examples, path)
    rows = json.loads(path.read_text())
    assert rows[0]["audio_id"] == "./clips/a.wav"
    assert list(rows[0])[:11] == ["id", "audio_id", "question", "choices", "answer", "dataset", "task",
                                  "split", "category", "sub-category", "difficulty"]
    assert rows[0]["sub-category"] == "pitch" and rows[1]["dataset"] == "synth"
    assert resolve_format(path) == "mmau"
    assert _without_origin(read_examples(path)) == examples
