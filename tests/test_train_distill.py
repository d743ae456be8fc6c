"""`audistill distill` and `audistill cache` end to end on tiny random models (paper config + overrides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from audistill.cli import app
from audistill.config import ConfigError, StudentConfig, load_config
from audistill.data.validate import load_dataset
from audistill.distill.objective import JointObjective
from audistill.models.load import load_student
from audistill.train import NonFiniteLossError, run_distillation
from audistill.train.plan import DataPlan
from audistill.views import ViewBuilder
from test_train_fixtures import PAPER, TinyWorld, run_overrides, tiny_world

TERMS = ["sft", "text_top", "text_layers", "acoustic"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyWorld:
    return tiny_world(tmp_path_factory.mktemp("train"))


def cli(command: str, sets: list[str]) -> tuple[int, str]:
    args = [command, str(PAPER)]
    for s in sets:
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def weight(folder: Path, part: str, exclude: str = "") -> torch.Tensor:
    """The one saved tensor whose name contains `part` (and not `exclude`): key layouts differ by family."""
    tensors = load_file(str(folder / "model.safetensors"))
    names = [n for n in tensors if part in n and not (exclude and exclude in n)]
    assert len(names) == 1, names
    return tensors[names[0]]


@pytest.mark.parametrize(("family", "teacher_name"),
                         [("qwen2_audio", "teacher"), ("omni", "teacher_same_vocab")])
def test_distill_runs_the_paper_config_on_both_student_families(world, tmp_path, family, teacher_name):
    out = tmp_path / "run"
    student_path, teacher_path = getattr(world, family), getattr(world, teacher_name)
    code, output = cli("distill", run_overrides(world, out, student=student_path, teacher=teacher_path))
    assert code == 0, output
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    layer_keys = {"text_layer/1-2", "text_layer/2-4", "acoustic_layer/1", "acoustic_layer/2"}
    assert set(rows[0]) == {"step", "epoch", "loss", *TERMS, *layer_keys, "lr", "tokens", "audio_positions",
                            "grad_norm", "seconds"}
    for row in rows:  # the paper's weights: L = 0.5 CE + (JSD + 0.05 layers) + 0.05 acoustic
        formula = 0.5 * row["sft"] + row["text_top"] + 0.05 * row["text_layers"] + 0.05 * row["acoustic"]
        assert row["loss"] == pytest.approx(formula, rel=1e-9)
        assert row["text_layers"] == pytest.approx(row["text_layer/1-2"] + row["text_layer/2-4"], rel=1e-6)
    examples = load_dataset(world.data)
    assert rows[0]["tokens"] + rows[1]["tokens"] == sum(  # one epoch: every target token once
        len(ViewBuilder.for_models(load_student(StudentConfig(path=str(student_path), device="cpu")))
            .student_view(e).target_ids) for e in examples)

    resolved = load_config(out / "config.yaml")
    assert resolved == load_config(PAPER, run_overrides(world, out, student=student_path,
                                                        teacher=teacher_path))
    assert yaml.safe_load((out / "config.yaml").read_text())["sft"]["weight"] == 0.5
    assert json.loads((out / "versions.json").read_text())["torch"] == torch.__version__
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 0
    assert (run["device"], run["mixed_precision"]) == ("cpu", "no")  # what `auto` resolved to here
    assert any((out / "tensorboard").glob("events.out.tfevents.*"))

    final = out / "final"
    trained = load_student(StudentConfig(path=str(final), device="cpu"))
    assert trained.family == load_student(StudentConfig(path=str(student_path), device="cpu")).family
    q_proj = ("layers.0.self_attn.q_proj.weight", "audio_tower")
    assert (weight(final, *q_proj) - weight(student_path, *q_proj)).abs().max() > 1e-4  # it trained
    encoder = "audio_tower.layers.0.self_attn.q_proj.weight"
    assert torch.equal(weight(final, encoder), weight(student_path, encoder))  # the frozen encoder did not


def test_phase_times_split_each_logged_step_into_its_phases(world, tmp_path):
    out = tmp_path / "run"
    code, output = cli("distill", [*run_overrides(world, out), "train.phase_times=true"])
    assert code == 0, output
    phases = {"textual_teacher", "acoustic_teacher", "student_forward", "objective", "backward", "optimizer"}
    for row in metrics(out):
        timed = {k.removeprefix("seconds/"): v for k, v in row.items() if k.startswith("seconds/")}
        assert set(timed) == phases
        assert all(v > 0 for v in timed.values())
        assert sum(timed.values()) <= row["seconds"]  # the phases are disjoint parts of the step


def test_cached_teacher_signals_train_and_foreign_caches_are_refused(world, tmp_path):
    cache_dir = tmp_path / "cache"
    sets = run_overrides(world, tmp_path / "run", **{"textual_teacher.cache_dir": cache_dir,
                                                     "textual_teacher.cache_k": 8})
    code, output = cli("cache", sets)
    assert code == 0, output
    manifest = json.loads((cache_dir / "manifest.json").read_text())
    assert manifest["complete"] and manifest["key"]["k"] == 8
    assert sorted(e for s in manifest["shards"] for e in s["examples"]) == ["ex0", "ex1", "ex2", "ex3"]
    code, output = cli("cache", sets)  # finished cache: nothing is redone
    assert code == 0 and json.loads((cache_dir / "manifest.json").read_text())["shards"] == manifest["shards"]

    cached = [*sets, "textual_teacher.source=cache", "textual_teacher.layers.strategy=none"]
    code, output = cli("distill", cached)
    assert code == 0, output
    rows = metrics(tmp_path / "run")
    assert "text_top" in rows[0] and "text_layers" not in rows[0] and "acoustic" in rows[0]
    # The cache (teacher batches of 8) holds what the online teacher's top-k gives (batches of 2).
    online = [*sets, "textual_teacher.top_k=8", "textual_teacher.layers.strategy=none",
              f"train.output_dir={tmp_path / 'online'}"]
    code, output = cli("distill", online)
    assert code == 0, output
    for a, b in zip(rows, metrics(tmp_path / "online"), strict=True):
        for key in ("loss", "sft", "text_top", "acoustic"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key

    code, output = cli("distill", [*cached, f"train.output_dir={tmp_path / 'other'}",
                                   "textual_teacher.temperature=2"])
    assert code == 1 and "cache was made with config_hash=" in output
    code, output = cli("distill", [*sets, "textual_teacher.source=cache",
                                   f"train.output_dir={tmp_path / 'layers'}"])
    assert code == 1 and "layer terms need textual_teacher.source: online" in output


def test_a_nan_loss_stops_with_step_term_and_ids(world, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = JointObjective.forward

    def poisoned(self, *args, **kwargs):
        sums = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # step 2 (one micro-batch per step)
            sums.terms["text_top"] = sums.terms["text_top"] * float("nan")
        return sums

    monkeypatch.setattr(JointObjective, "forward", poisoned)
    out = tmp_path / "run"
    cfg = load_config(PAPER, run_overrides(world, out, steps=3, **{"train.save_every": 1}))
    ids = [f"ex{i}" for i in DataPlan(4, 2, 1, 1, seed=0).step_examples(1)]
    with pytest.raises(NonFiniteLossError, match=rf"step 2: the text_top term is nan .* examples {ids[0]}, "
                                                 rf"{ids[1]} .* last good checkpoint is .*step-1"):
        run_distillation(cfg, show_progress=False)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-1"]
    assert [r["step"] for r in metrics(out)] == [1]
    assert not (out / "final").exists()


def test_accumulation_is_normalised_over_the_whole_window(world, tmp_path):
    """Two micro-batches of 1 must train exactly like one batch of 2 (every token weighs the same)."""
    finals = []
    for batch, accum in ((2, 1), (1, 2)):
        out = tmp_path / f"b{batch}a{accum}"
        cfg = load_config(PAPER, run_overrides(world, out, steps=2, **{"train.batch_size": batch,
                                                                       "train.grad_accum": accum}))
        run_distillation(cfg, show_progress=False)
        finals.append((metrics(out), load_file(str(out / "final" / "model.safetensors"))))
    (rows_a, weights_a), (rows_b, weights_b) = finals
    for a, b in zip(rows_a, rows_b, strict=True):
        for key in ("loss", *TERMS, "tokens"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    assert max((weights_a[k] - weights_b[k]).abs().max().item() for k in weights_a) < 1e-5


def test_fused_adamw_is_used_on_cpu_and_takes_the_loops_steps(world, tmp_path, monkeypatch):
    """train.fused_adamw picks torch's fused kernel (CPU here) and the run trains as the per-tensor loop does,
    up to rounding; switched off, torch's default is used."""
    from audistill.train import loop

    built = []
    original = loop._optimizer

    def recorded(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(loop, "_optimizer", recorded)
    finals = []
    for fused in ("true", "false"):
        out = tmp_path / fused
        cfg = load_config(PAPER, run_overrides(world, out, steps=3, **{"train.fused_adamw": fused}))
        run_distillation(cfg, show_progress=False)
        finals.append(load_file(str(out / "final" / "model.safetensors")))
    assert built[0].defaults["fused"] is True and not built[1].defaults["fused"]
    fused_weights, loop_weights = finals
    moved = max((fused_weights[k] - loop_weights[k]).abs().max().item() for k in fused_weights)
    assert moved < 1e-5


def test_padded_batches_train_the_same_without_their_padding_mask(world, tmp_path, monkeypatch):
    """The student and both teachers read right-padded rows without a padding mask; a run trains as it does
    with the masks (the paper config, rows of different lengths in every batch of two)."""
    from audistill.models.batch import TextBatch

    finals = []
    for masked in (False, True):
        if masked:
            monkeypatch.setattr(TextBatch, "without_padding_mask", lambda self: self)
        out = tmp_path / f"masked-{masked}"
        run_distillation(load_config(PAPER, run_overrides(world, out, steps=3)), show_progress=False)
        finals.append((metrics(out), load_file(str(out / "final" / "model.safetensors"))))
    (rows_a, weights_a), (rows_b, weights_b) = finals
    for a, b in zip(rows_a, rows_b, strict=True):
        for key in ("loss", *TERMS):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    assert max((weights_a[k] - weights_b[k]).abs().max().item() for k in weights_a) < 1e-5


def test_lora_run_keeps_the_adapter_and_merges_it_into_final(world, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(PAPER, run_overrides(world, out, steps=2, **{
        "student.lora.enabled": "true", "student.lora.r": 4, "student.lora.dropout": 0.0,
        "textual_teacher.layers.compare": "projected_mse", "train.gradient_checkpointing": "true",
        "train.batch_size": 1, "train.grad_accum": 2}))
    run_distillation(cfg, show_progress=False)
    final = out / "final"
    assert (final / "adapter" / "adapter_config.json").is_file()
    assert (final / "projections.safetensors").is_file() and (final / "projections.json").is_file()
    merged = load_student(StudentConfig(path=str(final), device="cpu"))

    from peft import PeftModel

    base = load_student(StudentConfig(path=str(world.qwen2_audio), device="cpu"))
    base.model = PeftModel.from_pretrained(base.model, str(final / "adapter"))
    examples = load_dataset(world.data)[:2]
    batch = ViewBuilder.for_models(merged).batch(examples).student
    with torch.no_grad():
        a = merged.forward(batch, want_hidden=False).response_logits
        b = base.forward(batch, want_hidden=False).response_logits
    assert a is not None and b is not None
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_an_existing_run_is_not_overwritten_without_resume(world, tmp_path):
    out = tmp_path / "run"
    cfg = load_config(PAPER, run_overrides(world, out, steps=1, **{"acoustic_teacher.enabled": "false",
                                                                   "textual_teacher.enabled": "false"}))
    run_distillation(cfg, show_progress=False)
    assert set(metrics(out)[0]) >= {"sft", "loss"} and not set(metrics(out)[0]) & set(TERMS[1:])
    with pytest.raises(ConfigError, match="already holds a run"):
        run_distillation(cfg, show_progress=False)


def test_models_are_freed_and_accelerate_state_reset_between_runs(world, tmp_path, monkeypatch):
    """The demo trains several ladder rows in one process: nothing may survive a run."""
    import gc
    import weakref

    from accelerate.state import AcceleratorState

    from audistill.train import loop

    refs = []
    original = loop.build_components

    def tracked(*args, **kwargs):
        parts = original(*args, **kwargs)
        refs.extend(weakref.ref(m) for m in (parts.student.model, parts.objective))
        assert parts.teacher is not None and parts.acoustic is not None and parts.acoustic.teacher is not None
        refs.extend(weakref.ref(m) for m in (parts.teacher.model, parts.acoustic.teacher.model))
        return parts

    monkeypatch.setattr(loop, "build_components", tracked)
    for name in ("a", "b"):
        cfg = load_config(PAPER, run_overrides(world, tmp_path / name, steps=1))
        run_distillation(cfg, show_progress=False)
        gc.collect()
        assert len(refs) == 4 and all(ref() is None for ref in refs), "a model outlived its run"
        assert not AcceleratorState._shared_state
        refs.clear()


def test_a_missing_description_stops_the_run_before_it_starts(world, tmp_path):
    rows = [json.loads(line) for line in world.data.read_text().splitlines()]
    del rows[2]["description"]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for row in rows:
        (tmp_path / row["audio"]).write_bytes((world.data.parent / row["audio"]).read_bytes())
    code, output = cli("distill", run_overrides(world, tmp_path / "run", **{"data.train": data}))
    assert code == 1
    assert "1 of 4 example(s) cannot be turned into training views" in output
    assert "example 'ex2' (" in output and "no audio description (field 'description')" in output
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    # Without a textual teacher nobody reads descriptions: the same data trains.
    code, output = cli("distill", run_overrides(world, tmp_path / "sft", steps=1, **{
        "data.train": data, "textual_teacher.enabled": "false"}))
    assert code == 0, output
