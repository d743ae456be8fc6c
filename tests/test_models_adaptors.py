"""Model adaptors on tiny random models of the real HF classes, saved and loaded back through load_*.

The central property: what an adaptor returns equals a direct HF forward with output_hidden_states, at
the gathered positions (the last layer before the final norm, so final_norm(last) equals HF's last).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from audistill.config import StudentConfig, TextualTeacherConfig
from audistill.models.adaptor import (
    AudioStudentAdaptor,
    OmniThinkerAdaptor,
    Qwen2AudioAdaptor,
    TextLMAdaptor,
    audio_tokens_for_frames,
)
from audistill.models.batch import IGNORE_INDEX, StudentBatch, TextBatch
from audistill.models.checkpoint import ModelLoadError, detect_family, resolve_checkpoint, resolve_dtype
from audistill.models.load import load_adaptor, load_student, load_text_teacher
from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

STUDENTS = ("qwen2_audio", "qwen2_5_omni_thinker", "qwen2_5_omni")
TEACHERS = ("qwen2", "qwen3")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tokenizer) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_models")
    paths = {family: build_tiny_student(family, root / family, tokenizer=tokenizer) for family in STUDENTS}
    for arch in TEACHERS:
        paths[arch] = build_tiny_text_lm(arch, root / arch, tokenizer=tokenizer, vocab_size=448)
    return paths


def _text_rows(tokenizer, seed: int) -> list[tuple[list[int], int]]:
    """Two (ids, target length) rows of different lengths, drawn from ordinary (non-special) ids."""
    rng = np.random.default_rng(seed)
    return [([int(t) for t in rng.integers(20, len(tokenizer), size=n)], k) for n, k in ((14, 5), (9, 3))]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


def text_batch(tokenizer, seed: int = 0) -> TextBatch:
    rows = _text_rows(tokenizer, seed)
    ids = [r for r, _ in rows]
    labels = [[IGNORE_INDEX] * (len(r) - k) + r[-k:] for r, k in rows]
    return TextBatch(_pad(ids, 0), _pad([[1] * len(r) for r in ids], 0), _pad(labels, IGNORE_INDEX),
                     ["a", "b"])


def student_batch(adaptor: AudioStudentAdaptor, seconds: tuple[float, ...] = (0.7, 1.3), seed: int = 0
                  ) -> StudentBatch:
    """Right-padded batch: text, audio_bos, expanded audio tokens, audio_eos, text, target."""
    fe = adaptor.feature_extractor
    rng = np.random.default_rng(seed)
    waves = [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in seconds]
    feats = fe(waves, sampling_rate=16000, return_attention_mask=True, padding="max_length",
               return_tensors="pt")
    tok = adaptor.tokenizer
    bos, eos = tok.convert_tokens_to_ids("<|audio_bos|>"), tok.convert_tokens_to_ids("<|audio_eos|>")
    rows, labels = [], []
    for i, (text, k) in enumerate(_text_rows(tok, seed)):
        n_audio = audio_tokens_for_frames(int(feats["attention_mask"][i].sum()))
        row = text[:3] + [bos] + [adaptor.audio_token_id] * n_audio + [eos] + text[3:]
        rows.append(row)
        labels.append([IGNORE_INDEX] * (len(row) - k) + row[-k:])
    ids = _pad(rows, tok.pad_token_id)
    return StudentBatch(ids, _pad([[1] * len(r) for r in rows], 0), _pad(labels, IGNORE_INDEX), ["a", "b"],
                        feats["input_features"], feats["attention_mask"].long(),
                        (ids == adaptor.audio_token_id))


def _hf_forward(adaptor, batch):
    kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if isinstance(batch, StudentBatch):
        kwargs |= {"input_features": batch.input_features,
                   "feature_attention_mask": batch.feature_attention_mask}
    with torch.no_grad():
        return adaptor.hf_model(**kwargs, output_hidden_states=True)


def _assert_matches_hf(adaptor, batch, record) -> None:
    out = _hf_forward(adaptor, batch)
    response = batch.labels[:, 1:] != IGNORE_INDEX
    layers = adaptor.num_layers
    assert len(out.hidden_states) == layers + 1
    assert record.response_hidden is not None and len(record.response_hidden) == layers + 1
    for i in range(layers):
        torch.testing.assert_close(record.response_hidden[i], out.hidden_states[i][:, :-1][response])
    # HF's last entry is the normed output; the record keeps the pre-norm state of the last layer.
    last = out.hidden_states[layers][:, :-1][response]
    assert not torch.allclose(record.response_hidden[layers], last)
    torch.testing.assert_close(record.final_norm(record.response_hidden[layers]), last)
    torch.testing.assert_close(record.response_logits, out.logits[:, :-1][response])
    torch.testing.assert_close(record.lm_head(record.final_norm(record.response_hidden[layers])),
                               record.response_logits)
    if isinstance(batch, StudentBatch):
        assert record.audio_hidden is not None
        for i in range(layers):
            torch.testing.assert_close(record.audio_hidden[i], out.hidden_states[i][batch.audio_mask])


@pytest.mark.parametrize("family", STUDENTS)
def test_student_record_equals_direct_hf_forward(checkpoints, family):
    adaptor = load_adaptor(str(checkpoints[family]), device="cpu")
    expected_cls = Qwen2AudioAdaptor if family == "qwen2_audio" else OmniThinkerAdaptor
    assert type(adaptor) is expected_cls
    batch = student_batch(adaptor)
    with torch.no_grad():
        record = adaptor.forward(batch, want_audio_hidden=True)
    _assert_matches_hf(adaptor, batch, record)
    assert record.tokens_per_example == [5, 3]
    # The targets are the last 5 and 3 real tokens of the two rows, in row order.
    ends = batch.attention_mask.sum(dim=1).tolist()
    expected = [*batch.input_ids[0, ends[0] - 5:ends[0]].tolist(),
                *batch.input_ids[1, ends[1] - 3:ends[1]].tolist()]
    assert record.target_ids.tolist() == expected
    assert record.audio_tokens_per_example == [audio_tokens_for_frames(70), audio_tokens_for_frames(130)]
    assert record.audio_hidden[0].shape == (sum(record.audio_tokens_per_example), 32)
    assert (record.num_layers, record.hidden_size, record.vocab_size) == (2, 32, 384)


@pytest.mark.parametrize("arch", TEACHERS)
def test_text_lm_record_equals_direct_hf_forward(checkpoints, arch):
    adaptor = load_adaptor(str(checkpoints[arch]), device="cpu")
    assert type(adaptor) is TextLMAdaptor
    batch = text_batch(adaptor.tokenizer)
    with torch.no_grad():
        record = adaptor.forward(batch)
    _assert_matches_hf(adaptor, batch, record)
    assert record.audio_hidden is None and record.audio_tokens_per_example == [0, 0]
    assert (record.num_layers, record.hidden_size, record.vocab_size) == (4, 48, 448)
    with pytest.raises(ValueError, match="no audio positions"):
        adaptor.forward(batch, want_audio_hidden=True)


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni_thinker"])
def test_stop_after_audio_gives_the_same_audio_states(checkpoints, family):
    adaptor = load_adaptor(str(checkpoints[family]), device="cpu")
    batch = student_batch(adaptor, seconds=(1.3, 0.5))  # the longer clip first: the cut follows it
    with torch.no_grad():
        full = adaptor.forward(batch, want_logits=False, want_hidden=False, want_audio_hidden=True)
        cut = adaptor.forward(batch, want_logits=False, want_hidden=False, want_audio_hidden=True,
                              stop_after_audio=True)
    assert cut.response_logits is None and cut.response_hidden is None
    assert cut.audio_tokens_per_example == full.audio_tokens_per_example
    for a, b in zip(full.audio_hidden, cut.audio_hidden, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="want_logits=False"):
        adaptor.forward(batch, stop_after_audio=True)


@pytest.mark.parametrize("name", [*STUDENTS, *TEACHERS])
def test_right_padded_rows_read_the_same_without_their_padding_mask(checkpoints, name):
    """What the frozen teachers rely on (`TextBatch.without_padding_mask`): in a causal decoder the pads
    after a row's end change nothing at its real tokens, for every family's attention and positions."""
    adaptor = load_adaptor(str(checkpoints[name]), device="cpu")
    batch = student_batch(adaptor) if name in STUDENTS else text_batch(adaptor.tokenizer)
    lengths = batch.attention_mask.sum(dim=1)
    assert lengths.min() < batch.attention_mask.shape[1]  # the batch really is padded
    unmasked = batch.without_padding_mask()
    assert bool(unmasked.attention_mask.all()) and torch.equal(unmasked.input_ids, batch.input_ids)
    audio = name in STUDENTS
    with torch.no_grad():
        masked_record = adaptor.forward(batch, want_audio_hidden=audio)
        record = adaptor.forward(unmasked, want_audio_hidden=audio)
    torch.testing.assert_close(record.response_logits, masked_record.response_logits, rtol=1e-5, atol=1e-6)
    pairs = list(zip(record.response_hidden, masked_record.response_hidden, strict=True))
    if audio:
        pairs += list(zip(record.audio_hidden, masked_record.audio_hidden, strict=True))
    for got, want in pairs:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # Left-padded rows (generation) and rows without padding keep what they have.
    left = replace(batch, attention_mask=batch.attention_mask.flip(1))
    assert left.without_padding_mask() is left
    assert unmasked.without_padding_mask() is unmasked


def test_only_requested_outputs_are_computed(checkpoints):
    adaptor = load_adaptor(str(checkpoints["qwen2_audio"]), device="cpu")
    batch = student_batch(adaptor)
    with torch.no_grad():
        logits_only = adaptor.forward(batch, want_hidden=False)
        hidden_only = adaptor.forward(batch, want_logits=False)
    assert logits_only.response_hidden is None and logits_only.audio_hidden is None
    assert logits_only.response_logits is not None
    assert hidden_only.response_logits is None and hidden_only.response_hidden is not None
    torch.testing.assert_close(hidden_only.lm_head(hidden_only.final_norm(hidden_only.response_hidden[-1])),
                               logits_only.response_logits)


def test_student_without_audio_features_is_refused(checkpoints):
    adaptor = load_adaptor(str(checkpoints["qwen2_audio"]), device="cpu")
    batch = student_batch(adaptor)
    batch.input_features = None
    with pytest.raises(ValueError, match=r"no audio features.*a, b"):
        adaptor.forward(batch)


def test_full_omni_checkpoint_loads_every_thinker_weight(checkpoints):
    folder = checkpoints["qwen2_5_omni"]
    assert detect_family(folder) == "qwen2_5_omni_thinker"
    adaptor = load_adaptor(str(folder), device="cpu")
    loaded = adaptor.hf_model.state_dict()
    stored = load_file(str(folder / "model.safetensors"))
    assert stored and all(key.startswith("thinker.") for key in stored)

    def renamed(key: str) -> str:  # the released layout -> the thinker class's module names
        key = key.removeprefix("thinker.")
        if key.startswith(("audio_tower.", "visual.")):
            return "model." + key
        if key.startswith("model."):
            return "model.language_model." + key.removeprefix("model.")
        return key

    assert {renamed(k) for k in stored} == set(loaded)
    for key, value in stored.items():
        assert torch.equal(loaded[renamed(key)], value), key


def test_missing_weights_are_an_error(checkpoints, tmp_path, tokenizer):
    folder = build_tiny_text_lm("qwen2", tmp_path / "broken", tokenizer=tokenizer)
    weights = load_file(str(folder / "model.safetensors"))
    del weights["model.norm.weight"]
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"textual_teacher\.path: .*lacks weights.*model\.norm\.weight"):
        load_adaptor(str(folder), device="cpu", field="textual_teacher.path")


def test_offline_hub_id_asks_for_a_local_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"student\.path: 'nobody-here/no-such-model'.*local path"):
        resolve_checkpoint("nobody-here/no-such-model", "student.path")


def test_local_paths_that_are_not_checkpoints(tmp_path):
    with pytest.raises(ModelLoadError, match=r"student\.path: .*model directory not found"):
        resolve_checkpoint(str(tmp_path / "missing" / "model"), "student.path")
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        resolve_checkpoint(str(tmp_path), "student.path")


def test_roles_are_checked_against_the_family(checkpoints):
    with pytest.raises(ModelLoadError, match=r"student\.path: .*'qwen3' is not an audio LM"):
        load_student(StudentConfig(path=str(checkpoints["qwen3"]), device="cpu"))
    with pytest.raises(ModelLoadError, match=r"textual_teacher\.path: .*is an audio LM"):
        load_text_teacher(TextualTeacherConfig(path=str(checkpoints["qwen2_audio"]), device="cpu"))


def test_teacher_is_frozen_and_dtype_is_a_setting(checkpoints):
    teacher = load_text_teacher(TextualTeacherConfig(path=str(checkpoints["qwen2"]), device="cpu",
                                                     dtype="bfloat16"))
    assert teacher.dtype == torch.bfloat16
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.model.parameters())
    record = teacher.forward(text_batch(teacher.tokenizer))
    assert record.response_logits is not None and record.response_logits.dtype == torch.bfloat16
    assert not record.response_logits.requires_grad
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(ModelLoadError, match="dtype"):
        resolve_dtype("float64", torch.device("cpu"))


def test_audio_format_of_each_family(checkpoints):
    q2a = load_adaptor(str(checkpoints["qwen2_audio"]), device="cpu")
    omni = load_adaptor(str(checkpoints["qwen2_5_omni_thinker"]), device="cpu")
    assert q2a.audio_format.placeholder == "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    assert omni.audio_format.placeholder == "<|audio_bos|><|AUDIO|><|audio_eos|>"
    assert q2a.audio_format.audio_token_id == q2a.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert q2a.audio_format.sampling_rate == 16000


def test_audio_token_rule_matches_both_processors():
    from transformers.models.qwen2_5_omni.processing_qwen2_5_omni import _get_feat_extract_output_lengths

    # Qwen2-Audio's processor writes the same rule inline; check by hand values and against Omni's.
    assert [audio_tokens_for_frames(n) for n in (0, 1, 2, 3, 4, 5, 100, 3000)] == [0, 0, 0, 1, 1, 1, 25, 750]
    for frames in range(1, 400):
        assert audio_tokens_for_frames(frames) == int(_get_feat_extract_output_lengths(frames))
