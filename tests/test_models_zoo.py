"""The nano model zoo: a tiny build on a tiny synth set loads through the adapters, caches by data,
config and code, is deterministic; its pieces (training forward, units, texts, schedule) by hand."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from audistill.cli import app
from audistill.config import StudentConfig, TextualTeacherConfig
from audistill.data.readers import read_examples
from audistill.data.trace import parse_trace
from audistill.models.load import load_student, load_text_teacher
from audistill.models.tiny import build_tiny_tokenizer
from audistill.models.zoo import ZooDataError, budget_config, build_zoo
from audistill.models.zoo.config import Phase, ZooConfig
from audistill.models.zoo.encode import encode_audio, student_hidden
from audistill.models.zoo.gates import GATES, exact_match
from audistill.models.zoo.key import cache_key, code_version, data_hash
from audistill.models.zoo.loop import length_batches, lr_factor, target_loss
from audistill.models.zoo.nets import mel_frames, sinusoids, student_model, teacher_model
from audistill.models.zoo.texts import (
    clip_tasks,
    heard_description,
    task_counts,
    teacher_examples,
    text_only_examples,
    unique_clips,
)
from audistill.models.zoo.units import UnitVocabulary, acoustic_units
from audistill.synth import SynthSettings, SynthSizes, generate
from audistill.views import DESCRIBE_PROMPT, ViewBuilder

TINY_SET = SynthSizes(reasoning={"train": 18, "dev": 6}, perception={"train": 18, "dev": 12})


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zoo_data") / "set"
    generate(out, SynthSettings(seed=3, size="tiny", sizes=TINY_SET), workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def zoo(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("zoo") / "zoo"
    # Two threads: the teacher trains in a child process beside the student, as on the demo machine.
    return build_zoo(synth_dir, out, budget="tiny", threads=2, show_progress=False)


# ---- the build ------------------------------------------------------------------------------------


def test_zoo_json_has_every_figure_and_gate(zoo) -> None:
    data = json.loads((zoo.folder / "zoo.json").read_text())
    student_keys = {"wer", "emotion_ua", "caption_accuracy", "reasoning_accuracy", "describe_accuracy"}
    teacher_keys = {"reasoning_accuracy_oracle", "reasoning_accuracy_heard",
                    "reasoning_accuracy_student_descriptions"}
    assert student_keys <= set(data["student"]) and teacher_keys <= set(data["teacher"])
    for side, keys in (("student", student_keys - {"wer"}), ("teacher", teacher_keys)):
        for key in keys:
            assert 0.0 <= data[side][key] <= 1.0, (side, key)
    assert data["student"]["wer"] >= 0.0
    assert [g["key"] for g in data["gates"]] == [g.key for g in GATES]
    assert data["passed"] == all(g["passed"] for g in data["gates"])
    assert data["student"]["parameters"] > data["student"]["encoder_parameters"] > 0
    assert data["key"] == zoo.key
    assert set(data["training"]) == {"student_encoder", "student_joint", "teacher"}
    assert data["training"]["student_encoder"]["steps"] == 3
    assert data["training"]["teacher"]["optimizer"] == budget_config("tiny").teacher_phase.optimizer
    card = (zoo.folder / "ZOO.md").read_text()
    assert "student.wer" in card and "Qwen2AudioForConditionalGeneration" in card
    assert f"| teacher | {budget_config('tiny').teacher_phase.optimizer} | 3 |" in card
    assert (zoo.folder / "eval" / "teacher_oracle.json").is_file()
    assert not list(zoo.folder.parent.glob(".zoo.build-*"))


def test_saved_models_load_through_the_adapters_with_one_vocabulary(zoo, synth_dir: Path) -> None:
    student = load_student(StudentConfig(path=str(zoo.student), device="cpu"))
    teacher = load_text_teacher(TextualTeacherConfig(path=str(zoo.teacher), device="cpu"))
    assert student.family == "qwen2_audio" and teacher.hf_model.config.model_type == "qwen3"
    assert teacher.num_layers > student.num_layers
    assert student.feature_extractor.hop_length == budget_config("tiny").student.hop_length
    example = read_examples(synth_dir / "dev.json")[0]
    example.description = heard_description(example.meta)
    views = ViewBuilder.for_models(student, teacher)
    batch = views.batch([example])  # raises unless both targets are the same token ids
    record = student.forward(batch.student)
    assert record.audio_tokens_per_example[0] > 0
    assert record.response_logits is not None and torch.isfinite(record.response_logits).all()
    assert teacher.forward(batch.teacher).target_ids.tolist() == record.target_ids.tolist()
    # The CTC head is a training aid only: nothing of it is in the checkpoint.
    names = [n for n, _ in student.hf_model.named_parameters()]
    assert not any("ctc" in n for n in names)


def test_rerun_reuses_and_a_changed_config_rebuilds(zoo, synth_dir: Path, tmp_path: Path) -> None:
    again = build_zoo(synth_dir, zoo.folder, budget="tiny", threads=1, show_progress=False)
    assert again.reused and again.key == zoo.key
    copy = tmp_path / "zoo"
    shutil.copytree(zoo.folder, copy)
    other = build_zoo(synth_dir, copy, budget="tiny", seed=1, threads=1, show_progress=False)
    assert not other.reused and other.key != zoo.key
    assert json.loads((copy / "zoo.json").read_text())["config"]["seed"] == 1


def test_same_seed_gives_the_same_weights(zoo, synth_dir: Path, tmp_path: Path) -> None:
    """One model at a time (1 thread) gives the very bytes of the side-by-side build (2 threads)."""
    twin = build_zoo(synth_dir, tmp_path / "twin", budget="tiny", seed=0, threads=1, show_progress=False)
    assert not twin.zoo["parallel"] and zoo.zoo["parallel"]
    first = zoo
    for name in ("student", "teacher"):
        assert (twin.folder / name / "model.safetensors").read_bytes() == \
            (first.folder / name / "model.safetensors").read_bytes()


def test_teacher_steps_compute_the_same_bits_when_it_is_lent_threads(synth_dir: Path, tmp_path: Path) -> None:
    """The zoo lends the teacher the student's cores mid-run (`TeacherProcess.lend_threads`): a teacher
    of the demo's width switched from one thread to two after two steps ends with the very weights of
    one trained on one thread throughout."""
    from audistill.models.zoo.build import load_zoo_model
    from audistill.models.zoo.config import DEMO
    from audistill.models.zoo.teacher import teacher_views, train_teacher
    from audistill.views import DEFAULT_SYSTEM_PROMPT

    cfg = replace(budget_config("tiny"), teacher=DEMO.teacher,
                  teacher_phase=Phase(steps=5, batch_size=16, lr=1.5e-3, warmup_steps=1, optimizer="muon"))
    items = teacher_examples(read_examples(synth_dir / "train.json"))
    tokenizer = build_tiny_tokenizer(None, vocab_size=cfg.vocab_size, corpus=[e.description for e in items])
    teacher_model(cfg.teacher, tokenizer, 0).save_pretrained(str(tmp_path / "init"))
    tokenizer.save_pretrained(str(tmp_path / "init"))
    before = torch.get_num_threads()
    weights, asked = [], []
    try:
        for schedule in ([1] * 5, [1, 1, 2, 2, 2]):
            torch.set_num_threads(1)
            teacher = load_zoo_model(tmp_path / "init", "cpu")
            views = teacher_views(teacher, None, items, DEFAULT_SYSTEM_PROMPT)
            steps = iter(schedule)

            def threads(steps=steps) -> int:
                wanted = next(steps)
                asked.append(wanted)
                return wanted

            train_teacher(teacher, views, cfg, threads=threads)
            weights.append({k: v.detach().clone() for k, v in teacher.hf_model.state_dict().items()})
            assert torch.get_num_threads() == schedule[-1]
    finally:
        torch.set_num_threads(before)
    assert asked == [1] * 5 + [1, 1, 2, 2, 2]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_cache_key_follows_data_config_and_code(synth_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "set"
    shutil.copytree(synth_dir, copy)
    files = [copy / "dev.json"]
    wav = sorted((copy / "audio").glob("*.wav"))[0]
    before = data_hash(files, [str(wav)])
    assert data_hash(files, [str(wav)]) == before
    rows = json.loads(files[0].read_text())
    rows[0]["question"] += " "
    files[0].write_text(json.dumps(rows))
    assert data_hash(files, [str(wav)]) != before
    after_json = data_hash(files, [str(wav)])
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x01\x00")
    assert data_hash(files, [str(wav)]) != after_json
    cfg = budget_config("tiny")
    code = code_version()
    assert cache_key("d", cfg, code) != cache_key("d", cfg.with_seed(5), code)
    assert cache_key("d", cfg, code) != cache_key("d", cfg, code + "x")
    assert cache_key("d", cfg, code) != cache_key("e", cfg, code)


def test_missing_data_and_foreign_out_folder_are_named(tmp_path: Path, synth_dir: Path) -> None:
    with pytest.raises(ZooDataError, match=r"perception/train\.json"):
        build_zoo(tmp_path, tmp_path / "z", budget="tiny", show_progress=False)
    foreign = tmp_path / "stuff"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ZooDataError, match="not a zoo folder"):
        build_zoo(synth_dir, foreign, budget="tiny", show_progress=False)
    with pytest.raises(ValueError, match="choose one of"):
        budget_config("huge")


def test_cli_zoo_build_reuses_the_built_zoo(zoo, synth_dir: Path) -> None:
    result = CliRunner().invoke(app, ["zoo", "build", "--data", str(synth_dir), "--out", str(zoo.folder),
                                      "--budget", "tiny", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "reusing" in result.output


# ---- pieces ---------------------------------------------------------------------------------------


def test_training_forward_equals_the_hf_forward() -> None:
    net = budget_config("tiny").student
    tokenizer = build_tiny_tokenizer(vocab_size=300)
    model = student_model(net, tokenizer, seed=0).eval()
    frames_total = mel_frames(net)
    features = torch.randn(3, net.num_mel_bins, frames_total)
    frames = torch.tensor([frames_total // 3, frames_total, 37])
    feature_mask = (torch.arange(frames_total)[None] < frames[:, None]).long()
    audio_id = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    with torch.no_grad():
        audio = encode_audio(model, features, frames)
        ids = torch.randint(20, 200, (3, 90))
        mask = torch.ones(3, 90, dtype=torch.long)
        for row, n in enumerate(audio.lengths.tolist()):
            ids[row, 3:3 + n] = audio_id
            mask[row, 3 + n + 10 + 4 * row:] = 0
        ours = model.lm_head(student_hidden(model, ids, mask, audio))
        theirs = model(input_ids=ids, attention_mask=mask, input_features=features,
                       feature_attention_mask=feature_mask).logits
        labels = ids.masked_fill((mask == 0) | (ids == audio_id), -100)  # the text around the audio
        hf_loss = model(input_ids=ids, attention_mask=mask, input_features=features,
                        feature_attention_mask=feature_mask, labels=labels).loss
        assert torch.allclose(target_loss(model.lm_head, student_hidden(model, ids, mask, audio), labels),
                              hf_loss, atol=1e-5)
    assert audio.lengths.tolist() == [((int(f) - 1) // 2 + 1 - 2) // 2 + 1 for f in frames]
    assert torch.allclose(ours[mask.bool()], theirs[mask.bool()], atol=1e-5)
    # Sinusoidal encoder positions (HF leaves them random): row 0 is sin(0)=0 then cos(0)=1.
    table = model.model.audio_tower.embed_positions.weight
    assert torch.equal(table, sinusoids(*table.shape))
    assert table[0, : table.shape[1] // 2].abs().max() == 0 and torch.all(table[0, table.shape[1] // 2:] == 1)


def test_target_loss_equals_the_hf_loss_on_the_targets() -> None:
    tokenizer = build_tiny_tokenizer(vocab_size=300)
    model = teacher_model(budget_config("tiny").teacher, tokenizer, seed=0)
    ids = torch.randint(20, 200, (2, 40))
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 31:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :25] = -100  # prompt positions carry no loss
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    ours = target_loss(model.lm_head, hidden, labels)
    theirs = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.allclose(ours, theirs, atol=1e-6)
    weights = list(model.parameters())
    for ours_grad, their_grad in zip(torch.autograd.grad(ours, weights), torch.autograd.grad(theirs, weights),
                                     strict=True):
        assert torch.allclose(ours_grad, their_grad, atol=1e-6)


def test_acoustic_units_of_each_clip_kind() -> None:
    speech = {"kind": "speech", "emotion": "sad", "transcript": "Ben has two pens."}
    assert acoustic_units(speech) == ["<sad>", "ben", "has", "two", "pens"]
    sounds = {"kind": "sounds", "events": [{"kind": "beep", "length": "long", "loudness": "soft"},
                                           {"kind": "click"}]}
    assert acoustic_units(sounds) == ["long soft beep", "click"]
    melody = {"kind": "melody", "notes": [{"name": "C4"}, {"name": "E4"}], "tempo": "fast"}
    assert acoustic_units(melody) == ["C4", "E4", "<fast>"]
    triad = {"kind": "triad", "notes": [{"name": n} for n in ("C4", "E4", "G4", "C4", "E4", "G4")],
             "quality": "major"}
    assert acoustic_units(triad) == ["C4", "E4", "G4", "<major>"]
    vocab = UnitVocabulary(["b", "a", "a"])
    assert vocab.units == ["a", "b"] and vocab.blank == 2 and len(vocab) == 3
    assert vocab.encode(["b", "zzz", "a"]) == [1, 0]
    assert vocab.decode_greedy([2, 0, 0, 2, 0, 1, 1, 2]) == ["a", "a", "b"]


def test_clip_tasks_and_descriptions(synth_dir: Path) -> None:
    perception = read_examples(synth_dir / "perception" / "train.json")
    by_id = {e.id: e for e in perception}
    speech = next(e for e in perception if e.meta["kind"] == "speech")
    tasks = {t.kind: t for t in clip_tasks(speech)}
    assert set(tasks) == {"transcription", "emotion", "describe"}
    # The derived tasks are the perception set's own items, word for word.
    twin = by_id[speech.id[:-1] + "e"]
    assert tasks["emotion"].example.question == twin.question
    assert tasks["emotion"].example.choices == twin.choices
    assert tasks["emotion"].target == f"<RESPONSE>{twin.answer}</RESPONSE>"
    assert tasks["transcription"].target == f"<RESPONSE>{speech.meta['transcript']}</RESPONSE>"
    assert tasks["describe"].user_text == DESCRIBE_PROMPT
    assert tasks["describe"].target == heard_description(speech.meta)
    # The heard description is what every reasoning trace's CAPTION stage says.
    reasoning = read_examples(synth_dir / "train.json")
    for example in reasoning:
        assert parse_trace(example.reasoning or "").caption == heard_description(example.meta)
    taught = teacher_examples(reasoning)
    assert {e.id for e in taught} == {e.id for e in reasoning} and len(taught) > len(reasoning)
    assert len(unique_clips(perception)) < len(perception)  # a speech clip has two perception items


def test_text_only_teacher_items_keep_the_hold_out_and_repeat_by_seed(synth_dir: Path) -> None:
    items = text_only_examples(60, seed=11)
    again = text_only_examples(60, 11)
    assert len(items) == 60 and [e.question for e in items] == [e.question for e in again]
    assert [e.reasoning for e in items] != [e.reasoning for e in text_only_examples(60, 12)]
    for example in items:
        assert example.meta["held_out"] == []  # no held-out name, number or template: test stays unseen
        trace = parse_trace(example.reasoning or "")
        assert trace.caption == heard_description(example.meta) and trace.response == example.answer
        assert example.answer in example.choices
    train = read_examples(synth_dir / "train.json")
    assert {e.sub_category for e in items} == {e.sub_category for e in train}


def test_text_only_task_shares_set_the_mix_and_keep_the_turns(synth_dir: Path) -> None:
    shares = {"sound": 0.25, "music": 0.15, "speech": 0.6}
    assert task_counts(10, shares) == {"sound": 3, "music": 1, "speech": 6}
    assert task_counts(7, {"speech": 1.0}) == {"speech": 7}
    mixed = text_only_examples(40, 11, shares)
    assert Counter(e.task for e in mixed) == {"sound": 10, "music": 6, "speech": 24}
    # The even mix is the same items as without shares: the generators' own turns are kept.
    even = text_only_examples(30, 11)
    thirds = text_only_examples(30, 11, {"sound": 1 / 3, "music": 1 / 3, "speech": 1 / 3})
    assert [e.question for e in thirds] == [e.question for e in even]
    speech = [e for e in mixed if e.task == "speech"]
    assert len({e.sub_category for e in speech}) == len({e.sub_category for e in even if e.task == "speech"})
    with pytest.raises(ValueError, match=r"unknown task.*noise"):
        task_counts(10, {"noise": 1.0})
    with pytest.raises(ValueError, match="sum to 1"):
        ZooConfig(teacher_text_items=10, teacher_text_shares=(("sound", 0.5), ("music", 0.2)))


def test_exact_match_normalises_case_and_punctuation() -> None:
    assert exact_match("two beeps, then one click", "Two beeps then one click.")
    assert not exact_match("two beeps, then one click", "two beeps")
    assert not exact_match("a", None)


def test_schedule_and_batches() -> None:
    phase = Phase(steps=110, batch_size=4, lr=1.0, warmup_steps=10)
    assert lr_factor(0, phase) == pytest.approx(0.1)
    assert lr_factor(9, phase) == pytest.approx(1.0)
    assert lr_factor(10, phase) == pytest.approx(1.0)
    assert lr_factor(60, phase) == pytest.approx(0.5)
    assert lr_factor(110, phase) == pytest.approx(0.0, abs=1e-12)
    assert math.isclose(lr_factor(35, phase), 0.5 * (1 + math.cos(math.pi * 0.25)))
    items = list(range(10))
    lengths = [1, 50, 2, 51, 3, 52, 4, 53, 5, 54]
    first = length_batches(items, lengths, 5, seed=3, jitter=1)
    epoch = [next(first), next(first)]
    assert sorted(i for b in epoch for i in b) == items
    assert sorted(sorted(b) for b in epoch) == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]  # short with short
    again = length_batches(items, lengths, 5, seed=3, jitter=1)
    assert [next(again), next(again)] == epoch


def test_tiny_config_replace_keeps_hash_stable() -> None:
    cfg = budget_config("tiny")
    assert cfg.hash() == budget_config("tiny").hash()
    assert replace(cfg, ctc_weight=0.25).hash() != cfg.hash()


def test_textualize_student_mode_with_the_zoo_student(zoo, synth_dir: Path, tmp_path: Path) -> None:
    from audistill.runtime import torch_threads
    from audistill.textualize import textualize_file

    with torch_threads(1):
        out = textualize_file(synth_dir / "dev.json", tmp_path / "dev.json", mode="student",
                              model=zoo.student, batch_size=4)
    rows = read_examples(out)
    assert [r.id for r in rows] == [r.id for r in read_examples(synth_dir / "dev.json")]
    assert all(isinstance(r.description, str) for r in rows)
    assert all(r.reasoning and r.meta for r in rows)  # MMAU JSON keeps the trace and the ground truth
