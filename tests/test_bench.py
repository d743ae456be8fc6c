"""`audistill bench` on tiny models: the JSON record, and that its variants compute different things."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from audistill.bench.memory import peak_resident_bytes, reset_peak_resident, resident_bytes
from audistill.bench.report import GOALS, check_goals
from audistill.bench.run import run_bench
from audistill.bench.settings import TINY_SHAPE, BenchSettings
from audistill.bench.timing import Timings
from audistill.bench.trl_gkd import text_student, trl_available
from audistill.bench.variants import (
    TIMED,
    TrainerStep,
    acoustic_forwards,
    count_forward_calls,
    use_frozen_copy,
    variant_config,
    variant_overrides,
)
from audistill.bench.world import FULL_SHAPE, GPU_SHAPE, QUICK_SHAPE, BenchWorld, build_models
from audistill.cli import app
from audistill.distill.sources import CachedTextualSource, TextualTeacherSource

TOP_KEYS = ("sft_step_s", "full_online_step_s", "full_cached_step_s", "ratio_full_online",
            "ratio_full_cached", "peak_mem_ratio_acoustic_copy", "peak_mem_ratio_acoustic_adapter",
            "acoustic_truncation_saving", "ratio_vs_trl_gkd")


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[dict, BenchSettings, BenchWorld]:
    workdir = tmp_path_factory.mktemp("bench")
    settings = BenchSettings.tiny(workdir=workdir)
    out = workdir / "bench.json"
    result = run_bench(settings, out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    world = BenchWorld(workdir / "models" / "student", workdir / "models" / "teacher",
                       workdir / "data" / "train.jsonl", built=True)
    return result, settings, world


def finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@pytest.mark.slow
def test_json_has_every_figure_as_a_number(bench):
    result, settings, _ = bench
    if not trl_available():
        pytest.skip("trl is not installed (dev extra)")
    for key in TOP_KEYS:
        assert finite(result[key]), key
    assert set(result["cache_bytes_per_token"]) == {"32", "64", "128"}
    assert all(finite(v) for v in result["cache_bytes_per_token"].values())
    for name, stats in result["steps"].items():
        assert finite(stats["flops"]) and stats["flops"] > 0, name
        assert finite(stats["flop_per_s"]) and stats["flop_per_s"] > 0, name
        timed = len(TIMED) * settings.rounds if name == "sft" else settings.rounds  # SFT: around the others
        assert stats["steps_timed"] == timed == len(stats["samples_s"]), name
    assert result["flops_per_step"]["sft"] == result["steps"]["sft"]["flops"]
    assert set(result["goals"]) == {g.key for g in GOALS}
    assert len(result["machine"]["load_average_start"]) == 3 and result["machine"]["threads"] == 1


@pytest.mark.slow
def test_ratios_to_sft_come_from_the_neighbouring_sft_steps(bench):
    result, settings, _ = bench
    steps = result["steps"]
    for name, key in (("full_online", "ratio_full_online"), ("full_cached", "ratio_full_cached"),
                      ("full_online_projected", "ratio_full_online_projected"),
                      ("full_online_exact_lens", "ratio_full_online_exact_lens")):
        assert len(steps[name]["x_sft_samples"]) == settings.rounds
        assert result[key] == pytest.approx(statistics.median(steps[name]["x_sft_samples"]))
    # ref, a, ref, b, ref, ..., ref: one more SFT step per round than the variants around it
    assert len(steps["sft"]["samples_s"]) == len(TIMED) * settings.rounds
    per_round = [a / b for a, b in zip(steps["acoustic_truncated"]["samples_s"],
                                       steps["acoustic_full"]["samples_s"], strict=True)]
    assert result["acoustic_truncation_saving"] == pytest.approx(1 - statistics.median(per_round))
    assert result["peak_mem_ratio_acoustic_adapter"] == pytest.approx(
        result["peak_memory_bytes"]["acoustic_adapter"] / result["peak_memory_bytes"]["lora_sft"])


@pytest.mark.slow
def test_flop_counts_follow_what_each_variant_runs(bench):
    flops = bench[0]["flops_per_step"]
    # teachers and layer terms add work; the full-vocabulary logit lens (an LM head per layer) the most
    assert flops["sft"] < flops["full_cached"] < flops["full_online"] < flops["full_online_exact_lens"]
    assert flops["full_online_projected"] < flops["full_online_exact_lens"]
    # the top-32 lens multiplies 32 of the head's rows per position where the exact one multiplies all
    lens_share = flops["full_online"] - flops["full_online_projected"]
    assert abs(lens_share) < 0.1 * (flops["full_online_exact_lens"] - flops["full_online"])
    assert flops["acoustic_truncated"] < flops["acoustic_full"]  # fewer tokens
    if "trl_gkd" in flops:  # TRL's logits at every position, not only the targets
        assert flops["ours_text_jsd"] < flops["trl_gkd"]


@pytest.mark.slow
def test_cache_size_grows_by_six_bytes_per_extra_entry(bench):
    sizes = bench[0]["cache_bytes_per_token"]
    # int32 id + float16 log-probability per entry; the offsets and manifest are shared overhead
    assert 192 < sizes["32"] < 200
    assert sizes["64"] - sizes["32"] == pytest.approx(32 * 6, abs=0.5)
    assert sizes["128"] - sizes["64"] == pytest.approx(64 * 6, abs=0.5)


@pytest.mark.slow
def test_cached_variant_runs_no_teacher_and_online_runs_it_once(bench):
    _, settings, world = bench
    workdir = settings.workdir
    assert workdir is not None
    cached = TrainerStep.prepare("full_cached", variant_config("full_cached", world, settings, workdir))
    assert cached.run.parts.teacher is None and isinstance(cached.run.parts.textual, CachedTextualSource)
    online = TrainerStep.prepare("full_online", variant_config("full_online", world, settings, workdir))
    assert isinstance(online.run.parts.textual, TextualTeacherSource) and online.run.parts.teacher is not None
    teacher_calls = count_forward_calls(online.run.parts.teacher.decoder, online.step)
    assert teacher_calls == [online.batch.teacher.input_ids.shape[1]]
    reads: list[str] = []
    reader = cached.run.parts.textual.reader
    original = reader.get
    reader.get = lambda example_id: (reads.append(example_id), original(example_id))[1]  # type: ignore
    student_calls = count_forward_calls(cached.run.parts.student.decoder, cached.step)
    assert reads == cached.batch.example_ids  # the textual signal came from the cache, once per example
    assert student_calls == [cached.batch.student.input_ids.shape[1]]


@pytest.mark.slow
def test_phase_clock_charges_each_teacher_only_to_the_variants_that_run_it(bench):
    result, _, _ = bench
    phases = result["phase_s"]
    assert set(phases) == set(TIMED)
    common = {"student forward", "objective", "backward", "optimizer", "other", "step"}
    assert set(phases["sft"]) == common
    assert set(phases["full_online"]) == common | {"textual teacher", "acoustic teacher"}
    assert set(phases["full_cached"]) == common | {"textual teacher", "acoustic teacher"}
    for name, per_phase in phases.items():
        assert all(finite(v) and v >= 0 for v in per_phase.values()), name
        assert per_phase["backward"] > 0 and per_phase["student forward"] > 0, name
        parts = sum(v for k, v in per_phase.items() if k != "step")
        assert parts <= per_phase["step"] * 1.25, name  # phases never overlap (medians add up roughly)


@pytest.mark.slow
def test_truncated_acoustic_forward_sees_fewer_tokens(bench):
    _, settings, world = bench
    assert settings.workdir is not None
    cfg = variant_config("full_cached", world, settings, settings.workdir)
    cached = TrainerStep.prepare("full_cached", cfg)
    truncated, full = acoustic_forwards(cached)
    decoder = cached.run.parts.acoustic.teacher.decoder
    cut, = count_forward_calls(decoder, truncated.step)
    whole, = count_forward_calls(decoder, full.step)
    length = cached.batch.student.input_ids.shape[1]
    last_audio = int(cached.batch.student.audio_mask.any(dim=0).nonzero().max()) + 1
    assert (cut, whole) == (last_audio, length) and cut < whole


@pytest.mark.slow
def test_adapter_form_holds_no_second_copy_and_the_copy_form_does(bench):
    _, settings, world = bench
    assert settings.workdir is not None

    def storages(module: torch.nn.Module) -> set[int]:
        return {p.untyped_storage().data_ptr() for p in module.parameters()}

    cfg = variant_config("acoustic_adapter", world, settings, settings.workdir)
    adapter = TrainerStep.prepare("acoustic_adapter", cfg)
    source = adapter.run.parts.acoustic
    assert source is not None and source.form == "adapter" and source.teacher is None
    assert source.student is adapter.run.parts.student  # the teacher is the student's own weights
    copy = TrainerStep.prepare("acoustic_copy", cfg)
    use_frozen_copy(copy, cfg)
    frozen = copy.run.parts.acoustic
    assert frozen is not None and frozen.teacher is not None
    student_weights = storages(copy.run.parts.student.model)
    assert storages(frozen.teacher.model).isdisjoint(student_weights)
    assert all(not p.requires_grad for p in frozen.teacher.model.parameters())
    copy.step()  # the swapped-in copy trains like the adapter form


def test_text_student_is_the_audio_students_language_model(bench):
    _, settings, world = bench
    assert settings.workdir is not None
    sft = TrainerStep.prepare("sft", variant_config("sft", world, settings, settings.workdir))
    student = sft.run.parts.student
    text = text_student(student)
    ids = torch.randint(10, 200, (1, 12))
    with torch.no_grad():
        hf = student.hf_model
        want = hf.lm_head(hf.model.language_model(input_ids=ids).last_hidden_state)
        got = text.model(input_ids=ids).logits
    torch.testing.assert_close(got, want)
    assert all(p.requires_grad for p in text.model.parameters())


def test_ratio_is_the_median_of_per_round_ratios():
    timings = Timings({"a": [2.0, 4.0, 9.0], "b": [1.0, 1.0, 3.0]})
    assert timings.ratio("a", "b") == 3.0  # per round 2, 4, 3 (the ratio of medians would be 4)
    assert timings.median("a") == 4.0


class Machine:
    """A fake clock whose load grows by a quarter with every step run: each call takes cost x load."""

    def __init__(self) -> None:
        self.clock, self.load = 0.0, 1.0
        self.calls: list[str] = []


class FakeStep:
    def __init__(self, name: str, cost: float, machine: Machine) -> None:
        self.name, self.cost, self.machine = name, cost, machine

    def step(self) -> None:
        self.machine.calls.append(self.name)
        self.machine.clock += self.cost * self.machine.load
        self.machine.load += 0.25


def test_steps_between_two_reference_steps_cancel_a_drifting_load(monkeypatch):
    import audistill.bench.timing as timing

    machine = Machine()
    monkeypatch.setattr(timing.time, "perf_counter", lambda: machine.clock)
    steps = [FakeStep(name, cost, machine) for name, cost in (("ref", 1.0), ("a", 3.0), ("b", 2.0),
                                                              ("other", 5.0))]
    timings = timing.round_robin(steps, rounds=2, warmup=1, device=torch.device("cpu"), reference="ref",
                                 between=["a", "b"])
    forward = ["ref", "a", "ref", "b", "ref", "other"]
    assert machine.calls == [*forward, "other", "ref", "b", "ref", "a", "ref", *forward]
    # the load grows linearly, so the mean of the two neighbours is the reference's time at the
    # variant's own load: the ratios are the costs' exactly, although every time drifts
    assert timings.ratio("a", "ref") == pytest.approx(3.0, rel=1e-9)
    assert timings.ratio("b", "ref") == pytest.approx(2.0, rel=1e-9)
    assert timings.samples["a"][0] != timings.samples["a"][1]  # while the times themselves drift
    assert len(timings.samples["ref"]) == 6 and len(timings.samples["other"]) == 2


def test_goals_are_checked_against_their_limits():
    checked = check_goals({"ratio_full_online": 1.4, "ratio_full_cached": 1.2,
                           "cache_bytes_per_token": {"32": 193.0}, "ratio_vs_trl_gkd": None})
    assert checked["ratio_full_online"] == {"value": 1.4, "limit": 1.5, "met": True}
    assert checked["ratio_full_cached"]["met"] is False
    assert checked["cache_bytes_per_token_k32"]["met"] is True
    assert checked["ratio_vs_trl_gkd"]["met"] is None
    assert checked["peak_mem_ratio_acoustic_adapter"]["met"] is None


def test_ratio_intervals_are_the_medians_order_statistics_and_are_shown():
    from rich.console import Console

    from audistill.bench.report import goals_table
    from audistill.bench.run import _interval

    rounds = [1.45, 1.62, 1.38, 1.51, 1.47, 1.70, 1.41, 1.49, 1.55, 1.44, 1.53, 1.36, 1.58, 1.50]
    interval = _interval(rounds)
    assert interval is not None
    assert (interval["low"], interval["high"]) == (sorted(rounds)[2], sorted(rounds)[11])  # x_(3), x_(12)
    assert interval["low"] < statistics.median(rounds) < interval["high"]
    assert _interval([1.4, 1.5]) is None and _interval(None) is None  # two rounds: no 95 % interval
    result = {"ratio_full_online": statistics.median(rounds), "ratio_full_online_interval": interval,
              "ratio_full_cached": 1.1, "cache_bytes_per_token": {"32": 193.0}}
    result["goals"] = check_goals(result)
    console = Console(record=True, width=200)
    console.print(goals_table(result))
    assert f"{interval['low']:.3f}-{interval['high']:.3f}" in console.export_text()


def test_peak_resident_size_resets_to_the_current_size():
    before = resident_bytes()
    block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
    assert peak_resident_bytes() >= before + 60 * 1024 * 1024
    del block
    reset_peak_resident()
    assert peak_resident_bytes() < before + 32 * 1024 * 1024


def test_cli_needs_both_model_paths():
    result = CliRunner().invoke(app, ["bench", "--student", "some/where"])
    assert result.exit_code != 0
    assert "--student and --teacher go together" in " ".join(result.output.split())


def test_text_student_of_an_omni_thinker_equals_its_language_model(tmp_path):
    from audistill.models.load import load_adaptor
    from audistill.models.tiny import build_tiny_student

    student = load_adaptor(str(build_tiny_student("qwen2_5_omni_thinker", tmp_path / "omni")))
    text = text_student(student)  # a Qwen2ForCausalLM: on text, M-RoPE is plain RoPE
    ids = torch.randint(10, 200, (2, 9))
    with torch.no_grad():
        hf = student.hf_model
        want = hf.lm_head(hf.model.language_model(input_ids=ids).last_hidden_state)
        got = text.model(input_ids=ids).logits
    torch.testing.assert_close(got, want)


def _decoder_layer_weights(hidden: int, intermediate: int, heads: int, kv_heads: int) -> int:
    head_dim = hidden // heads
    return 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + 3 * hidden * intermediate


def test_quick_students_head_weighs_what_a_7b_students_does_in_decoder_layers(tmp_path):
    """The LM head's weights over one decoder layer's sets what the lens and every vocabulary-bound loss cost
    next to the model: the quick preset's tiny student matches Qwen2.5-Omni-7B's (H 3584, MLP 18944, 28 heads
    of which 4 key-value, V 152064) within 10 %."""
    from audistill.models.load import load_adaptor

    target = 152064 * 3584 / _decoder_layer_weights(3584, 18944, 28, 4)
    assert target == pytest.approx(2.34, abs=0.01)
    shape = QUICK_SHAPE
    student_path, _ = build_models(tmp_path, replace(shape, teacher_layers=1, examples=1))
    student = load_adaptor(str(student_path))
    language_model = student.hf_model.model.language_model
    head = sum(p.numel() for p in student.lm_head.parameters())
    layer = sum(p.numel() for n, p in language_model.layers[0].named_parameters() if "norm" not in n
                and not n.endswith("bias"))
    assert head == shape.vocab * shape.student_hidden
    assert head / layer == pytest.approx(target, rel=0.1)
    # a Qwen-sized vocabulary on the same tiny decoder would weigh several times more
    assert 32768 * shape.student_hidden / layer > 5 * target


def test_attention_flops_count_grouped_query_heads_as_broadcast_to_the_querys():
    """On CUDA transformers hands the fused attention kernels keys with fewer heads than the queries (torch
    before 2.13 refused to count them): counted as the same attention with the key heads repeated."""
    from audistill.bench.timing import grouped_query_attention_formulas

    formulas = grouped_query_attention_formulas()
    aten = torch.ops.aten
    forward = formulas[aten._scaled_dot_product_efficient_attention]
    backward = formulas[aten._scaled_dot_product_efficient_attention_backward]
    assert formulas[aten._scaled_dot_product_flash_attention] is forward
    query, grouped, repeated = (2, 8, 16, 4), (2, 2, 16, 4), (2, 8, 16, 4)
    # scores (b h, s, d) x (b h, d, s) and output (b h, s, s) x (b h, s, d): 2 x 2 b h s s d
    assert forward(query, grouped, grouped) == forward(query, repeated, repeated) == 2 * 2 * 16 * 16 * 16 * 4
    assert backward(query, query, grouped, grouped) == backward(query, query, repeated, repeated) > 0


@pytest.mark.parametrize("shape", [QUICK_SHAPE, FULL_SHAPE, GPU_SHAPE], ids=["quick", "default", "gpu"])
def test_teachers_decoder_weighs_over_the_students_what_qwen3_8b_does_over_qwen2_5_omni_7b(shape):
    """The textual teacher's forward is most of what the online step adds to SFT: its decoder must weigh,
    over the student's, what the paper's Qwen3-8B (H 4096, MLP 12288, 32 heads of which 8 key-value, 36
    layers) does over Qwen2.5-Omni-7B (28 layers), within 1 %, counted from the configs the bench builds."""
    qwen3_8b = 36 * _decoder_layer_weights(4096, 12288, 32, 8)
    omni_7b = 28 * _decoder_layer_weights(3584, 18944, 28, 4)
    assert qwen3_8b / omni_7b == pytest.approx(1.064, abs=0.001)
    assert shape.teacher_intermediate is not None
    kv = shape.heads // 2  # the tiny models' key-value heads
    student = shape.student_layers * _decoder_layer_weights(shape.student_hidden, 2 * shape.student_hidden,
                                                            shape.heads, kv)
    teacher = shape.teacher_layers * _decoder_layer_weights(shape.teacher_hidden, shape.teacher_intermediate,
                                                            shape.heads, kv)
    assert teacher / student == pytest.approx(qwen3_8b / omni_7b, rel=0.01)
    assert shape.teacher_layers > shape.student_layers  # deeper, so the layer maps are not the identity


def test_built_teacher_has_the_shapes_mlp_width(tmp_path):
    from audistill.models.load import load_adaptor

    shape = replace(TINY_SHAPE, teacher_intermediate=40, examples=1)
    _, teacher_path = build_models(tmp_path, shape)
    teacher = load_adaptor(str(teacher_path))
    mlp = teacher.hf_model.model.layers[0].mlp
    assert mlp.up_proj.weight.shape == (40, shape.teacher_hidden)
    assert teacher.num_layers == shape.teacher_layers and teacher.vocab_size >= shape.vocab


@pytest.mark.parametrize("name", ["full_online", "full_online_exact_lens", "full_online_projected",
                                  "full_cached", "lora_sft"])
def test_every_variant_trains_an_fp32_student_beside_a_bf16_teacher_under_bf16_autocast(bench, tmp_path,
                                                                                        name):
    """What a GPU run gets by default for the teacher (bf16 weights) and the forwards (bf16 autocast),
    beside fp32 student weights (what the trainer recommends for full fine-tuning): every variant's
    step runs, its metrics are finite and the student's weights move."""
    from accelerate.state import AcceleratorState, GradientState

    from audistill.config import load_config
    from audistill.train.loop import optimizer_step, release_run

    _, settings, world = bench
    assert settings.workdir is not None
    # the cached variant reads a cache made by the fp32 teacher (a bf16 one would need its own cache)
    teacher = ["textual_teacher.dtype=bfloat16"] if name.startswith("full_online") else []
    cfg = load_config(None, [*variant_overrides(name, world, settings, settings.workdir), *teacher,
                             "student.dtype=float32", "train.mixed_precision=bf16", "train.lr=1e-3",
                             f"train.output_dir={tmp_path}"])
    # Accelerate keeps one state per process; earlier tests' runs may have set it without autocast.
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    step = TrainerStep.prepare(name, cfg)
    run = step.run
    try:
        assert run.accelerator.mixed_precision == "bf16"
        if run.parts.teacher is not None:
            assert run.parts.teacher.hf_model.dtype == torch.bfloat16
        trainable = [p for p in run.parts.student.hf_model.parameters() if p.requires_grad]
        assert trainable and all(p.dtype == torch.float32 for p in trainable)
        before = [p.detach().clone() for p in trainable]
        sums, grad_norm = optimizer_step(run, 0, itertools.repeat(step.batch), step.metric_names)
        assert all(math.isfinite(v) for v in sums)
        assert math.isfinite(float(grad_norm)) and float(grad_norm) > 0
        assert any(not torch.equal(b, p.detach()) for b, p in zip(before, trainable, strict=True))
    finally:
        release_run(run)


@pytest.mark.slow
def test_encoder_runs_once_per_trainer_step_and_in_every_timed_acoustic_forward(bench):
    _, settings, world = bench
    assert settings.workdir is not None
    cfg = variant_config("full_cached", world, settings, settings.workdir)
    cached = TrainerStep.prepare("full_cached", cfg)
    source = cached.run.parts.acoustic
    assert source is not None and source.teacher is not None and source.shared_encoder is not None
    runs: list[int] = []
    for adaptor in (cached.run.parts.student, source.teacher):
        tower = adaptor.hf_model.get_submodule(adaptor.encoder_prefix)
        tower.conv1.register_forward_hook(lambda *_: runs.append(1))
    cached.step()
    assert len(runs) == 1  # the student took the acoustic teacher's encoder output
    truncated, full = acoustic_forwards(cached)
    for forward in (truncated, full, full, truncated):  # never served from a stored output
        before = len(runs)
        forward.step()
        assert len(runs) == before + 1, forward.name


def test_cli_names_how_to_see_where_an_error_from_below_was_raised(monkeypatch):
    """A torch error (a RuntimeError) in the bench prints its message, and where it was raised only when
    AUDISTILL_TRACEBACK is set: a GPU run that fails must leave enough to find the line."""
    import audistill.bench

    def broken(*args, **kwargs):
        raise RuntimeError("expected mat1 and mat2 to have the same dtype")

    monkeypatch.setattr(audistill.bench, "run_bench", broken)
    monkeypatch.delenv("AUDISTILL_TRACEBACK", raising=False)
    plain = CliRunner().invoke(app, ["bench", "--quick"])
    assert plain.exit_code == 1
    assert "same dtype" in plain.output and "AUDISTILL_TRACEBACK=1" in plain.output
    assert "Traceback" not in plain.output
    monkeypatch.setenv("AUDISTILL_TRACEBACK", "1")
    traced = CliRunner().invoke(app, ["bench", "--quick"])
    assert traced.exit_code == 1 and "Traceback" in traced.output and "in broken" in traced.output


def test_gpu_preset_refuses_a_machine_without_cuda_and_the_quick_preset_beside_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    no_gpu = CliRunner().invoke(app, ["bench", "--gpu"])
    assert no_gpu.exit_code == 1 and "needs a CUDA device" in no_gpu.output
    both = CliRunner().invoke(app, ["bench", "--gpu", "--quick"])
    assert both.exit_code == 1 and "choose one" in both.output


def test_gpu_preset_runs_on_cuda_with_fp32_weights_under_autocast():
    settings = BenchSettings.gpu()
    assert (settings.device, settings.student_dtype, settings.preset) == ("cuda", "float32", "gpu")
    gpu, quick = settings.shape, QUICK_SHAPE  # matrix work per step: width^2 x target tokens
    assert gpu.student_hidden**2 * gpu.batch_size * gpu.target_words > 1000 * (
        quick.student_hidden**2 * quick.batch_size * quick.target_words)
    overrides = variant_overrides("full_online", BenchWorld(Path("s"), Path("t"), Path("d.jsonl"), True),
                                  settings, Path("w"))
    assert "student.device=cuda" in overrides and "student.dtype=float32" in overrides
