"""Teacher cache: round trip, refusal of foreign caches, resume, corrupt shards, size per token."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audistill.distill.cache import (
    CacheError,
    CacheKey,
    TeacherCacheReader,
    TeacherCacheWriter,
    cache_bytes_per_token,
)

KEY = CacheKey(teacher="tiny-qwen3", tokenizer_hash="tok1", config_hash="cfg1", k=4)


def fake_signal(seed: int, tokens: int, k: int = 4, vocab: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(tokens, vocab, generator=gen)
    top = torch.log_softmax(logits, -1).topk(k, dim=-1)
    return top.indices, top.values


def write_examples(folder: Path, count: int, shard_examples: int = 2) -> TeacherCacheWriter:
    writer = TeacherCacheWriter(folder, KEY, shard_examples=shard_examples)
    for i in range(count):
        writer.add(f"ex{i}", *fake_signal(i, tokens=3 + i))
    return writer


def test_round_trip_keeps_ids_and_logprobs(tmp_path: Path) -> None:
    write_examples(tmp_path, 5).finish()
    reader = TeacherCacheReader(tmp_path, KEY)
    assert len(reader) == 5
    for i in range(5):
        ids, logprobs = reader.get(f"ex{i}")
        want_ids, want_lp = fake_signal(i, tokens=3 + i)
        assert torch.equal(ids, want_ids)
        assert torch.allclose(logprobs, want_lp, atol=2e-3)  # float16 storage
    ids, _ = reader.batch(["ex1", "ex0"])
    assert ids.shape == (4 + 3, 4)


def test_foreign_cache_is_refused(tmp_path: Path) -> None:
    write_examples(tmp_path, 2).finish()
    other = CacheKey(teacher="tiny-qwen3", tokenizer_hash="tok2", config_hash="cfg1", k=4)
    with pytest.raises(CacheError, match=r"tokenizer_hash='tok1'.*needs tokenizer_hash='tok2'"):
        TeacherCacheReader(tmp_path, other)
    with pytest.raises(CacheError, match="config_hash"):
        TeacherCacheWriter(tmp_path, CacheKey("tiny-qwen3", "tok1", "cfg2", 4))


def test_incomplete_cache_is_refused_then_resumed(tmp_path: Path) -> None:
    # An interrupted run: 3 examples with shards of 2 -> one complete shard, one example lost.
    write_examples(tmp_path, 3)
    with pytest.raises(CacheError, match="incomplete"):
        TeacherCacheReader(tmp_path, KEY)
    resumed = TeacherCacheWriter(tmp_path, KEY, shard_examples=2)
    assert resumed.done_ids == {"ex0", "ex1"}
    for i in range(5):
        resumed.add(f"ex{i}", *fake_signal(i, tokens=3 + i))  # done ones are skipped
    resumed.finish()
    reader = TeacherCacheReader(tmp_path, KEY)
    assert len(reader) == 5
    assert torch.equal(reader.get("ex4")[0], fake_signal(4, 7)[0])


def test_truncated_shard_is_detected_and_rewritten(tmp_path: Path) -> None:
    write_examples(tmp_path, 4).finish()
    shard = tmp_path / "shard-00000.safetensors"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(CacheError, match="sha256 does not match"):
        TeacherCacheReader(tmp_path, KEY)
    writer = TeacherCacheWriter(tmp_path, KEY, shard_examples=2)
    assert writer.done_ids == set()  # the bad first shard invalidates what follows it
    for i in range(4):
        writer.add(f"ex{i}", *fake_signal(i, tokens=3 + i))
    writer.finish()
    assert len(TeacherCacheReader(tmp_path, KEY)) == 4


def test_bad_shapes_are_rejected(tmp_path: Path) -> None:
    writer = TeacherCacheWriter(tmp_path, KEY)
    with pytest.raises(CacheError, match="example bad"):
        writer.add("bad", torch.zeros(3, 5, dtype=torch.long), torch.zeros(3, 5))


def test_bytes_per_token_at_k32(tmp_path: Path) -> None:
    key = CacheKey("t", "h", "c", k=32)
    writer = TeacherCacheWriter(tmp_path, key, shard_examples=64)
    for i in range(64):
        writer.add(f"ex{i}", *fake_signal(i, tokens=200, k=32, vocab=1000))
    writer.finish()
    per_token = cache_bytes_per_token(tmp_path)
    assert 192 <= per_token <= 200
