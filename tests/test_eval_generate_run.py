"""`audistill eval` / `evaluate`: predictions and metrics files for audio students and text LMs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from audistill.cli import app
from audistill.data.example import Example
from audistill.eval.answer import extract_answer
from audistill.eval.generate import Generation, GenerationError
from audistill.eval.metrics import score_records
from audistill.eval.predictions import load_predictions
from audistill.eval.run import evaluate, prediction_rows, run_eval
from audistill.models.load import load_adaptor
from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

ITEMS = [
    {"id": "snd-1", "audio_id": "./audio/a.wav", "question": "How many beeps are there?",
     "choices": ["one", "two", "three"], "answer": "two", "dataset": "synth", "task": "sound",
     "split": "test", "category": "counting", "sub-category": "Sound Counting", "difficulty": "easy",
     "description": "two short beeps", "note": "kept as is"},
    {"id": "mus-1", "audio_id": "./audio/b.wav", "question": "Which instrument plays?",
     "choices": ["guitar", "piano"], "answer": "piano", "dataset": "synth", "task": "music",
     "split": "test", "category": "timbre", "sub-category": "Instrument", "difficulty": "medium",
     "description": "a piano plays a slow melody"},
    {"id": "spk-1", "audio_id": "./audio/c.wav", "question": "What emotion does the speaker show?",
     "choices": ["happy", "sad", "angry"], "answer": "sad", "dataset": "synth", "task": "speech",
     "split": "test", "category": "paralinguistic", "sub-category": "Emotion Recognition",
     "difficulty": "hard", "description": "a man speaks slowly in a low voice"},
    {"id": "asr-1", "audio_id": "./audio/d.wav", "question": "Transcribe the speech.",
     "choices": [], "answer": "the quick brown fox", "dataset": "synth", "task": "speech",
     "split": "test", "category": "content", "sub-category": "Transcription", "difficulty": "easy",
     "description": "a woman says the quick brown fox"},
]
TOKENS = ["--max-new-tokens", "8"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on 2 shared cores decode about 100x faster with 1 torch thread (see test_eval_generate)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval_run")
    (root / "audio").mkdir()
    for name, seconds, hz in (("a", 0.6, 440), ("b", 1.5, 262), ("c", 1.0, 180), ("d", 0.4, 330)):
        t = np.arange(int(16000 * seconds)) / 16000
        wave = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        sf.write(root / "audio" / f"{name}.wav", wave, 16000)
    data = root / "test.json"
    data.write_text(json.dumps(ITEMS, indent=1))
    tokenizer = build_tiny_tokenizer()
    return {
        "root": root,
        "data": data,
        "qwen2_audio": build_tiny_student("qwen2_audio", root / "q2a", tokenizer=tokenizer),
        "qwen2_5_omni_thinker": build_tiny_student("qwen2_5_omni_thinker", root / "omni",
                                                   tokenizer=tokenizer),
        "qwen2_5_omni": build_tiny_student("qwen2_5_omni", root / "omni_full", tokenizer=tokenizer),
        "qwen3": build_tiny_text_lm("qwen3", root / "qwen3", tokenizer=tokenizer),
    }


def read(path: Path) -> object:
    return json.loads(path.read_text())


# (checkpoint kind, adaptor family): a full Qwen2.5-Omni checkpoint (the paper's student) loads its thinker.
KINDS = (("qwen2_audio", "qwen2_audio"), ("qwen2_5_omni_thinker", "qwen2_5_omni_thinker"),
         ("qwen2_5_omni", "qwen2_5_omni_thinker"), ("qwen3", "causal_lm"))


@pytest.mark.parametrize(("kind", "family"), KINDS)
def test_eval_writes_one_prediction_per_item_and_consistent_metrics(world, tmp_path, kind, family):
    metrics = evaluate(world[kind], world["data"], tmp_path, max_new_tokens=8, batch_size=3)
    rows = read(tmp_path / "predictions.json")
    assert [r["id"] for r in rows] == [item["id"] for item in ITEMS]
    for row, item in zip(rows, ITEMS, strict=True):
        assert {k: row[k] for k in item} == item  # every original field, unchanged
        assert row["model_prediction"] == extract_answer(row["model_output"])
        assert 1 <= row["generation"]["new_tokens"] <= 8
    assert read(tmp_path / "metrics.json") == json.loads(json.dumps(metrics))
    # `audistill score` on the written file gives the same numbers.
    rescored = score_records(load_predictions(tmp_path / "predictions.json")).to_json(extended=True)
    assert {k: metrics[k] for k in rescored} == rescored
    assert metrics["overall"]["n"] == 3  # the transcription item is scored by WER instead
    assert metrics["transcription"]["n"] == 1 and metrics["emotion"]["n"] == 1
    run = metrics["run"]
    assert run["model_family"] == family and run["model"] == str(world[kind])
    assert run["n"] == 4 and run["decoding"] == {"mode": "greedy", "max_new_tokens": 8}
    assert run["view"] == ("teacher" if kind == "qwen3" else "prompt")
    assert {"python", "torch", "transformers", "git_commit"} <= set(run["versions"])
    assert run["wall_seconds"] > 0 and metrics["generation"]["n"] == 4


def test_text_model_reads_descriptions_without_opening_audio(world, tmp_path):
    items = [{**item, "audio_id": f"./gone/{item['id']}.wav"} for item in ITEMS]
    data = tmp_path / "no_audio.json"
    data.write_text(json.dumps(items))
    metrics = evaluate(world["qwen3"], data, tmp_path / "out", max_new_tokens=4)
    assert metrics["run"]["n"] == 4


def test_missing_description_names_the_item_before_loading_the_model(world, tmp_path):
    items = [dict(item) for item in ITEMS]
    del items[2]["description"]
    data = tmp_path / "partial.json"
    data.write_text(json.dumps(items))
    # A text-LM checkpoint without weights: loading it would fail, so the error must come first.
    hollow = tmp_path / "hollow"
    hollow.mkdir()
    (hollow / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    with pytest.raises(GenerationError, match=r"1 of 4 .*'spk-1'.*textualize"):
        evaluate(hollow, data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_paper_decoding_same_seed_same_predictions(world, tmp_path):
    def outputs(decoding: str, seed: int, out: str) -> list[str]:
        evaluate(world["qwen2_audio"], world["data"], tmp_path / out, decoding=decoding, seed=seed,
                 max_new_tokens=8)
        return [r["model_output"] for r in read(tmp_path / out / "predictions.json")]

    paper = outputs("paper", 3, "a")
    assert paper == outputs("paper", 3, "b")
    assert paper != outputs("greedy", 3, "c")
    metrics = read(tmp_path / "a" / "metrics.json")
    assert metrics["run"]["decoding"] == {"mode": "paper", "max_new_tokens": 8, "temperature": 0.6,
                                          "top_k": 5, "top_p": 0.5, "seed": 3}
    assert metrics["run"]["generate_kwargs"]["do_sample"] is True


def test_loaded_adaptor_gives_the_same_run(world, tmp_path):
    adaptor = load_adaptor(str(world["qwen2_5_omni_thinker"]), device="cpu")
    given = run_eval(None, world["data"], tmp_path / "given", adaptor=adaptor, max_new_tokens=6, limit=2)
    loaded = run_eval(world["qwen2_5_omni_thinker"], world["data"], tmp_path / "loaded", max_new_tokens=6,
                      limit=2)
    assert given.predictions == loaded.predictions and len(given.predictions) == 2
    assert given.metrics["run"]["model"] == str(world["qwen2_5_omni_thinker"])


def test_prediction_rows_take_the_response_and_score_it():
    example = Example(id="x", audio="/data/audio/x.wav", question="Which?", choices=["guitar", "piano"],
                      answer="piano", task="music", extra={"dataset": "d", "model_prediction": "stale"})
    generations = [Generation("x", "<THINK>maybe guitar</THINK><RESPONSE>piano</RESPONSE>", 10, 7, True)]
    row, = prediction_rows([example], generations, Path("/data"))
    assert (row["audio_id"], row["dataset"], row["model_prediction"]) == ("./audio/x.wav", "d", "piano")
    assert row["generation"] == {"new_tokens": 7, "stopped": True}
    with pytest.raises(RuntimeError, match="paired"):
        prediction_rows([example], [Generation("y", "", 1, 1, True)], Path("/data"))


def test_cli_eval(world, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["eval", "--model", str(world["qwen2_audio"]), "--data", str(world["data"]),
                                 "--out", str(out), "--batch-size", "2", "--limit", "3", *TOKENS])
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "predictions.json" in result.output
    assert len(read(out / "predictions.json")) == 3
    bad = runner.invoke(app, ["eval", "--model", str(world["qwen2_audio"]), "--data", str(world["data"]),
                              "--out", str(out), "--decoding", "beam"])
    assert bad.exit_code == 1 and "greedy or paper" in bad.output
    missing = runner.invoke(app, ["eval", "--model", str(tmp_path / "nothing"), "--data", str(world["data"]),
                                  "--out", str(out)])
    assert missing.exit_code == 1 and "--model" in missing.output and "not found" in missing.output
