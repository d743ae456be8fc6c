"""The last decoder layer's MLP run only where its output is read: same results there, fewer rows."""

from __future__ import annotations

import pytest
import torch

from audistill.config import StudentConfig, TextualTeacherConfig
from audistill.data.validate import load_dataset
from audistill.distill.sources import TextualTeacherSource
from audistill.distill.token_losses import DivergenceSpec
from audistill.models.last_layer import decoder_layers, last_mlp, last_mlp_only_at
from audistill.models.load import load_student, load_text_teacher
from audistill.views import ViewBuilder
from test_train_fixtures import TinyWorld, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyWorld:
    return tiny_world(tmp_path_factory.mktemp("last_layer"))


def load(world: TinyWorld, name: str):
    path = str(getattr(world, name))
    if name.startswith("teacher"):
        return load_text_teacher(TextualTeacherConfig(path=path, device="cpu"))
    return load_student(StudentConfig(path=path, device="cpu"))


@pytest.mark.parametrize("name", ["teacher", "teacher_same_vocab", "qwen2_audio", "omni"])
def test_finds_the_decoder_layers_not_the_audio_encoders(world, name):
    adaptor = load(world, name)
    layers = decoder_layers(adaptor)
    assert layers is not None and len(layers) == adaptor.num_layers
    decoder_modules = set(map(id, adaptor.decoder.modules()))
    assert id(layers[-1]) in decoder_modules
    audio_tower = getattr(adaptor.decoder, "audio_tower", None)
    if audio_tower is not None:  # the encoder's own `layers` list is not the one found
        assert id(layers[-1]) not in set(map(id, audio_tower.modules()))
    assert last_mlp(adaptor) is layers[-1].mlp


@pytest.mark.parametrize("name", ["teacher", "qwen2_audio"])
def test_read_positions_are_the_same_to_the_bit_and_only_they_reach_the_mlp(world, name):
    adaptor = load(world, name)
    examples = load_dataset(world.data)[:3]
    pair = ViewBuilder.for_models(adaptor if name != "teacher" else load(world, "qwen2_audio"),
                                  adaptor if name == "teacher" else None).batch(examples)
    text = pair.teacher if name == "teacher" else pair.student
    assert text is not None
    read = torch.zeros_like(text.attention_mask, dtype=torch.bool)
    read[:, :-1] = text.response_mask()
    mlp = last_mlp(adaptor)
    assert mlp is not None
    rows_seen: list[int] = []
    probe = mlp.down_proj.register_forward_pre_hook(
        lambda _m, args: rows_seen.append(args[0].shape[:-1].numel()))
    try:
        with torch.no_grad():
            whole = adaptor.forward(text, want_logits=True, want_hidden=True)
            with last_mlp_only_at(adaptor, read):
                cut = adaptor.forward(text, want_logits=True, want_hidden=True)
    finally:
        probe.remove()
    assert rows_seen == [read.numel(), int(read.sum())]
    assert 0 < int(read.sum()) < read.numel()  # some rows skipped, some kept
    assert torch.equal(whole.response_logits, cut.response_logits)
    assert whole.response_hidden is not None and cut.response_hidden is not None
    for a, b in zip(whole.response_hidden, cut.response_hidden, strict=True):
        assert torch.equal(a, b)
    assert not mlp._forward_hooks and not mlp._forward_pre_hooks  # nothing left behind


def test_textual_source_signals_equal_the_plain_forward(world):
    teacher = load(world, "teacher")
    pair = ViewBuilder.for_models(load(world, "qwen2_audio"), teacher).batch(load_dataset(world.data)[:2])
    assert pair.teacher is not None
    signal = TextualTeacherSource(teacher, want_hidden=True, spec=DivergenceSpec()).signals(pair)
    with torch.no_grad():
        plain = teacher.forward(pair.teacher, want_logits=True, want_hidden=True)
    assert torch.equal(signal.logits, plain.response_logits)
    assert signal.hidden is not None and plain.response_hidden is not None
    assert all(torch.equal(a, b) for a, b in zip(signal.hidden, plain.response_hidden, strict=True))
