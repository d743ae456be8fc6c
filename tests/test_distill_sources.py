"""Teacher signal sources: online textual teacher, cached top-k, the acoustic teacher in both forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audistill.config import ConfigError, LoraConfig, StudentConfig, TextualTeacherConfig, load_config
from audistill.data.validate import load_dataset
from audistill.distill.cache import CacheError, CacheKey, TeacherCacheWriter
from audistill.distill.sources import (
    AcousticTeacherSource,
    CachedTextualSource,
    SignalError,
    TextualTeacherSource,
    cache_key,
    output_width,
    resolve_acoustic_form,
    teacher_config_hash,
    tokenizer_hash,
)
from audistill.distill.token_losses import DivergenceSpec, teacher_topk
from audistill.models.load import load_student, load_text_teacher
from audistill.models.tiny import build_tiny_tokenizer
from audistill.views import PairBatch, ViewBuilder
from test_train_fixtures import TinyWorld, tiny_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyWorld:
    return tiny_world(tmp_path_factory.mktemp("sources"))


def student(world: TinyWorld, lora: bool = False, path: Path | None = None):
    return load_student(StudentConfig(path=str(path or world.qwen2_audio), device="cpu",
                                      lora=LoraConfig(enabled=lora, r=4, dropout=0.0)))


def teacher(world: TinyWorld):
    return load_text_teacher(TextualTeacherConfig(path=str(world.teacher), device="cpu"))


def batch(world: TinyWorld, adaptor, text_teacher=None, rows: slice = slice(0, 2)) -> PairBatch:
    examples = load_dataset(world.data)[rows]
    return ViewBuilder.for_models(adaptor, text_teacher).batch(examples)


def assert_states_equal(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)


@pytest.mark.parametrize("path_name", ["qwen2_audio", "omni"])
def test_acoustic_forms_give_identical_signals_at_step_zero(world, path_name):
    path = getattr(world, path_name)
    plain, lora = student(world, path=path), student(world, lora=True, path=path)
    pair = batch(world, plain)
    copy_source = AcousticTeacherSource(plain, resolve_acoustic_form("auto", lora=False))
    adapter_source = AcousticTeacherSource(lora, resolve_acoustic_form("auto", lora=True))
    assert (copy_source.form, adapter_source.form) == ("copy", "adapter")
    before = copy_source.signals(pair)
    assert_states_equal(before.hidden, adapter_source.signals(pair).hidden)
    assert before.audio_tokens_per_example == pair.student.audio_counts()

    # Training moves the student; neither teacher moves with it.
    with torch.no_grad():
        for name, p in plain.model.named_parameters():
            if "language_model" in name:
                p.add_(0.1)
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    moved = lora.forward(pair.student, want_logits=False, want_hidden=False, want_audio_hidden=True)
    assert moved.audio_hidden is not None
    assert (moved.audio_hidden[-1] - before.hidden[-1]).abs().max() > 1e-3  # the adapters do act
    assert_states_equal(before.hidden, copy_source.signals(pair).hidden)
    assert_states_equal(before.hidden, adapter_source.signals(pair).hidden)
    lora.model.train()
    adapter_source.signals(pair)
    assert lora.model.training, "the adapter-form teacher must restore the student's training mode"


@pytest.mark.parametrize("path_name", ["qwen2_audio", "omni"])
def test_truncated_forward_equals_the_full_forward_at_audio_positions(world, path_name):
    adaptor = student(world, path=getattr(world, path_name))
    pair = batch(world, adaptor, rows=slice(0, 3))  # three clips of different lengths, right-padded
    counts = pair.student.audio_counts()
    assert len(set(counts)) == 3
    with torch.no_grad():
        full = adaptor.forward(pair.student, want_logits=False, want_hidden=False, want_audio_hidden=True)
    signal = AcousticTeacherSource(adaptor, "copy").signals(pair)
    assert full.audio_hidden is not None
    last_audio = int(pair.student.audio_mask.any(dim=0).nonzero().max()) + 1
    assert last_audio < pair.student.input_ids.shape[1]  # the cut really drops tokens
    assert_states_equal(signal.hidden, full.audio_hidden)


def test_acoustic_form_resolution():
    assert resolve_acoustic_form("auto", lora=True) == "adapter"
    assert resolve_acoustic_form("copy", lora=False) == "copy"
    with pytest.raises(ConfigError, match=r"acoustic_teacher\.form: 'adapter' needs student\.lora"):
        resolve_acoustic_form("adapter", lora=False)
    with pytest.raises(ConfigError, match=r"acoustic_teacher\.form: 'copy' under LoRA"):
        resolve_acoustic_form("copy", lora=True)


def test_online_textual_source_returns_only_what_is_asked(world):
    s, t = student(world), teacher(world)
    pair = batch(world, s, t)
    spec = DivergenceSpec(vocab_size=min(s.vocab_size, t.vocab_size))
    dense = TextualTeacherSource(t, want_hidden=False, spec=spec).signals(pair)
    assert dense.hidden is None and dense.lens is None and dense.topk_ids is None
    assert dense.logits is not None and dense.logits.shape == (sum(pair.student.target_counts()), 448)
    assert not dense.logits.requires_grad
    with_hidden = TextualTeacherSource(t, want_hidden=True, spec=spec).signals(pair)
    assert with_hidden.hidden is not None and len(with_hidden.hidden) == t.num_layers + 1
    assert with_hidden.lens is not None
    top = TextualTeacherSource(t, want_hidden=False, spec=spec, top_k=5).signals(pair)
    assert top.logits is None and top.topk_ids is not None and top.topk_logprobs is not None
    assert top.topk_ids.shape == (dense.logits.shape[0], 5)
    assert int(top.topk_ids.max()) < 384  # the shared vocabulary, not the teacher's padded ids
    want_ids, want_lp = teacher_topk(dense.logits, 5, spec)
    assert torch.equal(top.topk_ids, want_ids) and torch.allclose(top.topk_logprobs, want_lp)


def test_cached_source_reads_back_and_refuses_foreign_caches(world, tmp_path):
    s, t = student(world), teacher(world)
    pair = batch(world, s, t)
    spec = DivergenceSpec(vocab_size=384)
    online = TextualTeacherSource(t, want_hidden=False, spec=spec, top_k=4).signals(pair)
    key = CacheKey("tiny", "tok", "cfg", 4)
    writer = TeacherCacheWriter(tmp_path, key)
    start = 0
    for example_id, n in zip(pair.example_ids, online.tokens_per_example, strict=True):
        assert online.topk_ids is not None and online.topk_logprobs is not None
        writer.add(example_id, online.topk_ids[start:start + n], online.topk_logprobs[start:start + n])
        start += n
    writer.finish()
    cached = CachedTextualSource(tmp_path, key)
    signal = cached.signals(pair)
    assert signal.topk_ids is not None and signal.topk_logprobs is not None and online.topk_ids is not None
    assert torch.equal(signal.topk_ids, online.topk_ids)
    torch.testing.assert_close(signal.topk_logprobs, online.topk_logprobs, atol=2e-3, rtol=0)  # float16
    cached.check_covers(pair.example_ids)
    with pytest.raises(CacheError, match=r"1 training example\(s\) are not in the cache \('ex3'\)"):
        cached.check_covers([*pair.example_ids, "ex3"])
    with pytest.raises(CacheError, match="config_hash"):
        CachedTextualSource(tmp_path, CacheKey("tiny", "tok", "other", 4))
    other = batch(world, s, t, rows=slice(2, 4))
    other.student.example_ids = pair.example_ids  # same ids, different targets
    with pytest.raises(SignalError, match="example 'ex0': the student has"):
        cached.signals(other)


def test_cache_key_changes_with_what_changes_the_teacher(world, tmp_path):
    t = teacher(world)
    tok_hash = tokenizer_hash(t.tokenizer)
    t.tokenizer(["a", "bbb ccc"], padding=True, truncation=True, max_length=2)  # per-call backend state
    assert tokenizer_hash(t.tokenizer) == tok_hash
    assert tokenizer_hash(build_tiny_tokenizer(vocab_size=300)) != tok_hash
    data = tmp_path / "train.jsonl"
    data.write_bytes(world.data.read_bytes())
    cfg = load_config(None, [f"data.train={data}", f"textual_teacher.path={world.teacher}"])
    base = teacher_config_hash(cfg, 384)
    assert teacher_config_hash(cfg, 384) == base
    assert teacher_config_hash(cfg, 400) != base
    for change in ("textual_teacher.temperature=2", "textual_teacher.cache_k=8",
                   "student.system_prompt=Be brief.", "textual_teacher.description_field=caption",
                   "textual_teacher.dtype=bfloat16", "textual_teacher.mask_token_ids=[3]"):
        changed = load_config(None, [f"data.train={data}", f"textual_teacher.path={world.teacher}", change])
        assert teacher_config_hash(changed, 384) != base, change
    assert teacher_config_hash(load_config(None, [f"data.train={data}", "train.lr=1", "train.seed=4",
                                                  f"textual_teacher.path={world.teacher}"]), 384) == base
    data.write_text(data.read_text().replace("ex0", "ex9"))
    assert teacher_config_hash(cfg, 384) != base
    key = cache_key(cfg, t.tokenizer, 384)
    assert (key.teacher, key.tokenizer_hash, key.k) == (str(world.teacher), tok_hash, 32)
    assert output_width(str(world.teacher), "textual_teacher.path") == 448
    assert output_width(str(world.omni), "student.path") == 384
