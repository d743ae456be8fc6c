"""The shared vocabulary: min of the two widths, masked ids removed, columns aligned on both sides."""

from __future__ import annotations

import pytest
import torch

from audistill.models.batch import IGNORE_INDEX, TextBatch
from audistill.models.load import load_adaptor
from audistill.models.tiny import build_tiny_text_lm, build_tiny_tokenizer
from audistill.models.vocab import VocabError, shared_vocab


def test_size_is_the_smaller_vocabulary():
    # Qwen2.5 pads to 152064 rows, Qwen3 to 151936, Qwen2-Audio to 156032.
    assert shared_vocab(152064, 151936).size == 151936
    assert shared_vocab(156032, 152064).size == 152064
    assert shared_vocab(10, 10).num_kept == 10


def test_restrict_slices_and_drops_masked_columns():
    vocab = shared_vocab(student_size=6, teacher_size=8, mask_token_ids=[4, 1])
    assert vocab.masked_ids == (1, 4)
    assert vocab.kept_ids().tolist() == [0, 2, 3, 5]
    student = torch.arange(12.0).reshape(2, 6)
    teacher = torch.arange(16.0).reshape(2, 8) * 10
    assert vocab.restrict(student).tolist() == [[0, 2, 3, 5], [6, 8, 9, 11]]
    assert vocab.restrict(teacher).tolist() == [[0, 20, 30, 50], [80, 100, 110, 130]]
    # Softmax over the restricted columns = the distribution renormalised over the kept ids.
    logits = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    full = logits.softmax(-1)
    kept = full[[0, 2, 3, 5]] / full[[0, 2, 3, 5]].sum()
    torch.testing.assert_close(vocab.restrict(logits).softmax(-1), kept)


def test_without_mask_restrict_is_a_view():
    vocab = shared_vocab(4, 6)
    logits = torch.zeros(3, 6)
    restricted = vocab.restrict(logits)
    assert restricted.shape == (3, 4) and restricted.data_ptr() == logits.data_ptr()


def test_to_restricted_maps_token_ids_to_columns():
    vocab = shared_vocab(6, 8, [1, 4])
    columns = vocab.to_restricted(torch.tensor([0, 1, 2, 3, 4, 5, 6, 7]))
    assert columns.tolist() == [0, -1, 1, 2, -1, 3, -1, -1]


def test_bad_masks_and_narrow_logits_name_the_setting():
    with pytest.raises(VocabError, match=r"textual_teacher\.mask_token_ids: ids \[9\]"):
        shared_vocab(6, 8, [9])
    with pytest.raises(VocabError, match="masks every shared id"):
        shared_vocab(2, 3, [0, 1])
    with pytest.raises(VocabError, match="fewer than the shared vocabulary"):
        shared_vocab(6, 8).restrict(torch.zeros(5))


def test_teachers_with_padded_embeddings_compare_over_shared_ids(tmp_path):
    tokenizer = build_tiny_tokenizer()
    narrow_dir = build_tiny_text_lm("qwen2", tmp_path / "n", tokenizer=tokenizer, vocab_size=384)
    wide_dir = build_tiny_text_lm("qwen3", tmp_path / "w", tokenizer=tokenizer, vocab_size=448)
    narrow, wide = load_adaptor(str(narrow_dir), device="cpu"), load_adaptor(str(wide_dir), device="cpu")
    assert (narrow.vocab_size, wide.vocab_size) == (384, 448)
    ids = torch.tensor([tokenizer("The quick brown fox jumps over the lazy dog.")["input_ids"]])
    labels = ids.clone()
    labels[0, :4] = IGNORE_INDEX
    batch = TextBatch(ids, torch.ones_like(ids), labels, ["fox"])
    with torch.no_grad():
        a, b = narrow.forward(batch, want_hidden=False), wide.forward(batch, want_hidden=False)
    assert torch.equal(a.target_ids, b.target_ids)
    vocab = shared_vocab(a.vocab_size, b.vocab_size, [tokenizer.convert_tokens_to_ids("<|AUDIO|>")])
    sa, sb = vocab.restrict(a.response_logits), vocab.restrict(b.response_logits)
    assert sa.shape == sb.shape == (a.target_ids.numel(), 383)
    # Column j is the same token on both sides: both are column kept_ids[j] of the original logits.
    kept = vocab.kept_ids()
    torch.testing.assert_close(sb, b.response_logits[:, kept])
    torch.testing.assert_close(sa, a.response_logits[:, kept])
