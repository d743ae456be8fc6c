"""The frozen audio encoder's forward shared by the acoustic teacher and the student: exact, and only then."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from audistill.config import LoraConfig, StudentConfig
from audistill.data.validate import load_dataset
from audistill.distill.shared_encoder import is_deterministic, share_frozen_encoder
from audistill.distill.sources import AcousticTeacherSource
from audistill.models.load import load_student
from audistill.views import PairBatch, ViewBuilder
from test_train_fixtures import TinyWorld, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyWorld:
    return tiny_world(tmp_path_factory.mktemp("shared_encoder"))


def student(path: Path, lora: bool = False, freeze: bool = True, freeze_projector: bool = False):
    return load_student(StudentConfig(path=str(path), device="cpu", freeze_audio_encoder=freeze,
                                      freeze_projector=freeze_projector,
                                      lora=LoraConfig(enabled=lora, r=4, dropout=0.0)))


def batch(world: TinyWorld, adaptor, rows: slice = slice(0, 2)) -> PairBatch:
    return ViewBuilder.for_models(adaptor, None).batch(load_dataset(world.data)[rows])


def encoder_of(adaptor) -> nn.Module:
    return adaptor.hf_model.get_submodule(adaptor.encoder_prefix)


def counting_runs(adaptor) -> list[int]:
    """Times the encoder really computed: its first layer's forward runs only then."""
    runs: list[int] = []
    first = next(m for m in encoder_of(adaptor).modules() if isinstance(m, nn.Conv1d))
    first.register_forward_hook(lambda *_: runs.append(1))
    return runs


def student_pass(adaptor, pair: PairBatch) -> Callable[[], object]:
    return lambda: adaptor.forward(pair.student, want_logits=True, want_hidden=True, want_audio_hidden=True)


@pytest.mark.parametrize(("path_name", "lora"), [("qwen2_audio", False), ("qwen2_audio", True),
                                                 ("omni", False)])
def test_student_pass_after_the_teacher_reuses_its_encoder_output_exactly(world, path_name, lora):
    path = getattr(world, path_name)
    # Omni's projector sits inside its audio tower: shared only while it is frozen as well
    frozen_projector = path_name == "omni"
    shared_student = student(path, lora, freeze_projector=frozen_projector)
    plain_student = student(path, lora, freeze_projector=frozen_projector)
    source = AcousticTeacherSource(shared_student, "adapter" if lora else "copy")
    assert source.shared_encoder is not None
    pair = batch(world, shared_student)
    runs = counting_runs(shared_student)
    if source.teacher is not None:
        runs_teacher = counting_runs(source.teacher)
    signal = source.signals(pair)
    record = student_pass(shared_student, pair)()
    total = len(runs) + (len(runs_teacher) if source.teacher is not None else 0)
    assert total == 1 and source.shared_encoder.reused == 1  # one encoder pass for both models
    want = student_pass(plain_student, pair)()  # the same student without sharing
    torch.testing.assert_close(record.response_logits, want.response_logits, rtol=0, atol=0)
    for got, ref in zip(record.audio_hidden, want.audio_hidden, strict=True):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
    plain_source = AcousticTeacherSource(plain_student, "adapter" if lora else "copy")
    plain_source.shared_encoder.remove()  # type: ignore[union-attr]
    for got, ref in zip(signal.hidden, plain_source.signals(pair).hidden, strict=True):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_gradients_of_the_student_pass_are_unchanged(world):
    shared_student, plain_student = student(world.qwen2_audio), student(world.qwen2_audio)
    source = AcousticTeacherSource(shared_student, "copy")
    pair = batch(world, shared_student)
    source.signals(pair)
    for adaptor in (shared_student, plain_student):
        record = student_pass(adaptor, pair)()
        (record.response_logits.float().logsumexp(-1).sum() + record.audio_hidden[-1].pow(2).sum()).backward()
    assert source.shared_encoder.reused == 1  # type: ignore[union-attr]
    mine = dict(shared_student.hf_model.named_parameters())
    compared = 0
    for name, p in plain_student.hf_model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(mine[name].grad, p.grad, rtol=0, atol=0)
            compared += 1
    assert compared > 10 and mine["model.multi_modal_projector.linear.weight"].grad is not None


def test_the_stored_output_serves_one_matching_call_only(world):
    adaptor = student(world.qwen2_audio)
    source = AcousticTeacherSource(adaptor, "copy")
    shared = source.shared_encoder
    assert shared is not None
    first, other = batch(world, adaptor, slice(0, 2)), batch(world, adaptor, slice(2, 4))
    runs = counting_runs(adaptor)
    source.signals(first)
    student_pass(adaptor, other)()  # other audio: computed
    student_pass(adaptor, first)()  # the stored output was dropped by the call before: computed
    assert (len(runs), shared.reused) == (2, 0)
    source.signals(first)
    student_pass(adaptor, first)()
    student_pass(adaptor, first)()  # consumed once only
    assert (len(runs), shared.reused) == (3, 1)
    source.signals(first)
    with torch.no_grad():
        next(encoder_of(adaptor).parameters()).mul_(1.0)  # an in-place write: weights may have changed
    student_pass(adaptor, first)()
    assert (len(runs), shared.reused) == (4, 1)
    source.signals(first)
    shared.clear()
    student_pass(adaptor, first)()
    assert (len(runs), shared.reused) == (5, 1)


def test_not_shared_unless_exact(world):
    trainable = student(world.qwen2_audio, freeze=False)
    assert AcousticTeacherSource(trainable, "copy").shared_encoder is None  # the student's encoder learns
    omni = student(world.omni)  # its projector (inside the audio tower) learns by default
    assert AcousticTeacherSource(omni, "copy").shared_encoder is None
    adaptor = student(world.qwen2_audio)
    encoder_of(adaptor).config.dropout = 0.1  # train and eval mode would differ
    assert not is_deterministic(encoder_of(adaptor))
    assert AcousticTeacherSource(adaptor, "copy").shared_encoder is None
    adaptor = student(world.qwen2_audio)
    other = copy.copy(adaptor)
    other.model = copy.deepcopy(adaptor.model)
    with torch.no_grad():
        next(encoder_of(other).parameters()).add_(0.1)
    assert share_frozen_encoder(adaptor, other) is None  # different weights


def test_a_deep_copy_of_a_wrapped_encoder_runs_its_own_weights(world):
    adaptor = student(world.qwen2_audio)
    source = AcousticTeacherSource(adaptor, "copy")
    pair = batch(world, adaptor)
    twin = copy.copy(adaptor)
    twin.model = copy.deepcopy(adaptor.model)
    with torch.no_grad():
        for p in encoder_of(twin).parameters():
            p.mul_(0.5)
    source.signals(pair)
    moved = student_pass(twin, pair)()  # the copy's forward is bound to the copy, not to the memo
    assert source.shared_encoder.reused == 0  # type: ignore[union-attr]
    assert (moved.audio_hidden[0] - student_pass(adaptor, pair)().audio_hidden[0]).abs().max() > 1e-4
    source.shared_encoder.remove()  # type: ignore[union-attr]
    assert "forward" not in vars(encoder_of(adaptor))
