"""LoRA on the language model only, freezing of encoder and projector, the adapter-disabled teacher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audistill.config import LoraConfig, StudentConfig
from audistill.models.adaptor import AudioStudentAdaptor, audio_tokens_for_frames
from audistill.models.batch import IGNORE_INDEX, StudentBatch
from audistill.models.load import load_adaptor, load_student
from audistill.models.tiny import build_tiny_student, build_tiny_tokenizer
from audistill.models.trainable import TrainableSetupError

FAMILIES = ("qwen2_audio", "qwen2_5_omni_thinker")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_students")
    tokenizer = build_tiny_tokenizer()
    return {family: build_tiny_student(family, root / family, tokenizer=tokenizer) for family in FAMILIES}


def student(checkpoints, family: str, lora: bool, freeze_encoder: bool = True, freeze_projector: bool = True
            ) -> AudioStudentAdaptor:
    cfg = StudentConfig(path=str(checkpoints[family]), device="cpu", freeze_audio_encoder=freeze_encoder,
                        freeze_projector=freeze_projector, lora=LoraConfig(enabled=lora, r=4, dropout=0.0))
    return load_student(cfg)


def batch_for(adaptor: AudioStudentAdaptor) -> StudentBatch:
    rng = np.random.default_rng(3)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    feats = adaptor.feature_extractor(wave, sampling_rate=16000, return_attention_mask=True,
                                      padding="max_length", return_tensors="pt")
    n_audio = audio_tokens_for_frames(int(feats["attention_mask"].sum()))
    tok = adaptor.tokenizer
    text = [int(t) for t in rng.integers(20, len(tok), size=10)]
    bos, eos = tok.convert_tokens_to_ids("<|audio_bos|>"), tok.convert_tokens_to_ids("<|audio_eos|>")
    ids = torch.tensor([[*text[:2], bos, *[adaptor.audio_token_id] * n_audio, eos, *text[2:]]])
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, -4:] = ids[0, -4:]
    return StudentBatch(ids, torch.ones_like(ids), labels, ["x"], feats["input_features"],
                        feats["attention_mask"].long(), ids == adaptor.audio_token_id)


def _record(adaptor: AudioStudentAdaptor, batch: StudentBatch):
    with torch.no_grad():
        return adaptor.forward(batch, want_audio_hidden=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_with_frozen_audio_side_trains_only_adapters(checkpoints, family):
    adaptor = student(checkpoints, family, lora=True)
    trainable = adaptor.trainable_parameters()
    assert trainable and all("lora_" in name for name, _ in trainable)
    assert not any("audio_tower" in name or "visual" in name for name, _ in trainable)
    # One A and one B matrix per targeted projection in every decoder layer of the language model.
    lora_a = [name for name, _ in trainable if "lora_A" in name]
    assert len(lora_a) == adaptor.num_layers * len(ATTENTION)
    assert all(".language_model." in name for name in lora_a)
    # The audio encoder also has q/k/v projections; none of them got an adapter.
    assert not any("lora" in name for name, _ in adaptor.model.named_parameters() if "audio_tower" in name)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_adapters_and_nothing_frozen(checkpoints, family):
    adaptor = student(checkpoints, family, lora=True)
    batch = batch_for(adaptor)
    record = adaptor.forward(batch)
    loss = torch.nn.functional.cross_entropy(record.response_logits, record.target_ids)
    loss.backward()
    lora_b = [p for name, p in adaptor.model.named_parameters() if "lora_B" in name]
    assert lora_b and all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
    assert all(p.grad is None for name, p in adaptor.model.named_parameters() if "audio_tower" in name)


def test_unfrozen_projector_under_lora_is_a_trainable_copy(checkpoints):
    adaptor = student(checkpoints, "qwen2_audio", lora=True, freeze_projector=False)
    names = [name for name, _ in adaptor.trainable_parameters()]
    projector = [n for n in names if "multi_modal_projector" in n]
    assert projector and all("modules_to_save" in n for n in projector)
    assert all("lora_" in n or "modules_to_save" in n for n in names)


@pytest.mark.parametrize("family", FAMILIES)
def test_adapter_disabled_forward_equals_the_base_model(checkpoints, family):
    base = load_adaptor(str(checkpoints[family]), device="cpu")
    batch = batch_for(base)
    reference = _record(base, batch)
    adaptor = student(checkpoints, family, lora=True, freeze_projector=False)
    with torch.no_grad():  # train the adapters (and the projector copy) "a lot"
        for _, param in adaptor.trainable_parameters():
            param.add_(0.5 * torch.randn_like(param))
    trained = _record(adaptor, batch)
    assert not torch.allclose(trained.response_logits, reference.response_logits, atol=1e-3)
    with adaptor.adapter_disabled():
        teacher = _record(adaptor, batch)
    torch.testing.assert_close(teacher.response_logits, reference.response_logits)
    for got, want in zip(teacher.audio_hidden, reference.audio_hidden, strict=True):
        torch.testing.assert_close(got, want)
    for got, want in zip(teacher.response_hidden, reference.response_hidden, strict=True):
        torch.testing.assert_close(got, want)
    # Leaving the context switches the adapters back on.
    torch.testing.assert_close(_record(adaptor, batch).response_logits, trained.response_logits)


def test_full_fine_tuning_freezes_encoder_keeps_projector(checkpoints):
    q2a = student(checkpoints, "qwen2_audio", lora=False, freeze_encoder=True, freeze_projector=False)
    grads = dict((n, p.requires_grad) for n, p in q2a.model.named_parameters())
    assert not any(v for n, v in grads.items() if n.startswith("model.audio_tower."))
    assert all(v for n, v in grads.items() if n.startswith("model.multi_modal_projector."))
    assert all(v for n, v in grads.items() if n.startswith("model.language_model.") or n == "lm_head.weight")

    omni = student(checkpoints, "qwen2_5_omni_thinker", lora=False, freeze_encoder=True,
                   freeze_projector=False)
    grads = dict((n, p.requires_grad) for n, p in omni.model.named_parameters())
    proj = [n for n in grads if n.startswith("model.audio_tower.proj.")]
    assert proj and all(grads[n] for n in proj)
    assert not any(v for n, v in grads.items() if n.startswith("model.audio_tower.") and n not in proj)
    assert not any(v for n, v in grads.items() if n.startswith("model.visual."))

    frozen_all = student(checkpoints, "qwen2_5_omni_thinker", lora=False, freeze_projector=True)
    assert not any(p.requires_grad for n, p in frozen_all.model.named_parameters() if "audio_tower" in n)


def test_omni_projector_inside_unfrozen_encoder_is_refused_under_lora(checkpoints):
    with pytest.raises(TrainableSetupError, match=r"student\.freeze_projector"):
        student(checkpoints, "qwen2_5_omni_thinker", lora=True, freeze_encoder=False, freeze_projector=True)


def test_frozen_copy_is_independent_and_frozen(checkpoints):
    adaptor = student(checkpoints, "qwen2_audio", lora=False)
    twin = adaptor.frozen_copy()
    assert not any(p.requires_grad for p in twin.model.parameters()) and not twin.model.training
    batch = batch_for(adaptor)
    before = _record(twin, batch).response_logits
    with torch.no_grad():
        for _, param in adaptor.trainable_parameters():
            param.add_(1.0)
    torch.testing.assert_close(_record(twin, batch).response_logits, before)
    assert not torch.allclose(_record(adaptor, batch).response_logits, before)
    with pytest.raises(RuntimeError, match="no LoRA adapter"), adaptor.adapter_disabled():
        pass
