"""Hidden-state comparisons: hand values, the logit lens, projections and their files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from audistill.distill.divergences import DivergenceParams
from audistill.distill.hidden import (
    LayerContext,
    Lens,
    compare_layers,
    get_hidden_comparison,
    hidden_comparison_names,
    logit_lens,
)
from audistill.distill.projections import META_FILE, WEIGHTS_FILE, LayerProjections
from audistill.distill.token_losses import DivergenceSpec, dense_divergence

STUDENT = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
TEACHER = torch.tensor([[1.0, 0.0], [-3.0, -4.0]])


def test_registry() -> None:
    assert hidden_comparison_names() == ["cosine", "logit_lens", "logit_lens_topk", "mse", "projected_cosine",
                                         "projected_mse"]
    assert get_hidden_comparison("logit_lens_topk").needs_support
    assert get_hidden_comparison("projected_mse").needs_projection
    assert get_hidden_comparison("logit_lens").needs_lens
    assert not get_hidden_comparison("mse").needs_projection
    with pytest.raises(ValueError, match="unknown hidden comparison 'l2'"):
        get_hidden_comparison("l2")


def test_mse_and_cosine_by_hand() -> None:
    mse = get_hidden_comparison("mse").fn(STUDENT, TEACHER, LayerContext())
    # row 1: ((1-1)^2 + (2-0)^2) / 2 = 2;  row 2: (6^2 + 8^2) / 2 = 50
    assert mse.tolist() == pytest.approx([2.0, 50.0])
    cos = get_hidden_comparison("cosine").fn(STUDENT, TEACHER, LayerContext())
    # row 1: 1 - 1 / (sqrt(5) * 1);  row 2: opposite directions, 1 - (-1) = 2
    assert cos.tolist() == pytest.approx([1.0 - 1.0 / math.sqrt(5.0), 2.0])
    with pytest.raises(ValueError, match="projected_mse"):
        get_hidden_comparison("mse").fn(STUDENT, torch.zeros(2, 3), LayerContext())


def test_projected_comparisons_by_hand() -> None:
    # student width 3 -> teacher width 2; identity start truncates (a, b, c) -> (a, b)
    projections = LayerProjections([(1, 2)], student_width=3, teacher_width=2)
    ctx = LayerContext(1, 2, projections=projections)
    projected_mse = get_hidden_comparison("projected_mse").fn
    student = torch.tensor([[1.0, 2.0, 7.0], [3.0, 4.0, -1.0]])
    assert projected_mse(student, TEACHER, ctx).tolist() == pytest.approx([2.0, 50.0])
    with torch.no_grad():
        projections.projection(1, 2).weight.copy_(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
        projections.projection(1, 2).bias.copy_(torch.tensor([0.0, -7.0]))
    # row 1: W h + b = (2, 0) vs (1, 0): (1 + 0) / 2;  row 2: (6, -8) vs (-3, -4): (81 + 16) / 2
    assert projected_mse(student, TEACHER, ctx).tolist() == pytest.approx([0.5, 48.5])
    # row 1: (2, 0) parallel to (1, 0) -> 0;  row 2: cos((6, -8), (-3, -4)) = (-18 + 32) / (10 * 5) = 0.28
    got = get_hidden_comparison("projected_cosine").fn(student, TEACHER, ctx).tolist()
    assert got == pytest.approx([0.0, 0.72], abs=1e-6)
    with pytest.raises(ValueError, match="needs LayerProjections"):
        get_hidden_comparison("projected_mse").fn(student, TEACHER, LayerContext(1, 2))


def test_gradients_reach_student_and_projection_not_teacher() -> None:
    projections = LayerProjections([(1, 1)], 2, 2)
    student, teacher = STUDENT.clone().requires_grad_(True), TEACHER.clone().requires_grad_(True)
    for name in ("mse", "cosine", "projected_mse", "projected_cosine"):
        loss = get_hidden_comparison(name).fn(student, teacher, LayerContext(1, 1, projections=projections))
        loss.sum().backward()
        assert teacher.grad is None, name
        assert student.grad is not None and student.grad.abs().sum() > 0, name
        student.grad = None
    assert projections.projection(1, 1).weight.grad is not None


def tiny_lens(width: int, vocab: int, seed: int) -> Lens:
    torch.manual_seed(seed)
    return Lens(nn.LayerNorm(width), nn.Linear(width, vocab))


@pytest.mark.parametrize("chunk_size", [2, 100])
def test_logit_lens_equals_divergence_of_norm_and_head_outputs(chunk_size: int) -> None:
    student_lens, teacher_lens = tiny_lens(6, 11, seed=0), tiny_lens(4, 11, seed=1)
    torch.manual_seed(2)
    student = torch.randn(7, 6, requires_grad=True)
    teacher = torch.randn(7, 4, requires_grad=True)
    spec = DivergenceSpec(name="forward_kl", temperature=2.0, mask_ids=(3,), chunk_size=chunk_size)
    ctx = LayerContext(2, 3, student_lens=student_lens, teacher_lens=teacher_lens, spec=spec)
    got = logit_lens(student, teacher, ctx)
    got.sum().backward()
    grads = (student.grad.clone(), student_lens.lm_head.weight.grad.clone())  # type: ignore[union-attr, attr-defined]
    assert teacher.grad is None and teacher_lens.lm_head.weight.grad is None  # type: ignore[attr-defined]
    student.grad = None
    student_lens.lm_head.zero_grad()  # type: ignore[attr-defined]
    reference = dense_divergence(student_lens(student), teacher_lens(teacher).detach(), spec)
    reference.sum().backward()
    assert torch.allclose(got, reference, atol=1e-6)
    assert torch.allclose(grads[0], student.grad, atol=1e-6)  # type: ignore[arg-type]
    assert torch.allclose(grads[1], student_lens.lm_head.weight.grad, atol=1e-6)  # type: ignore[attr-defined]


def test_logit_lens_needs_both_lenses() -> None:
    with pytest.raises(ValueError, match="final norm and LM head"):
        logit_lens(torch.zeros(2, 4), torch.zeros(2, 4), LayerContext())


def test_compare_layers_uses_layer_numbers_and_checks_range() -> None:
    student_states = tuple(torch.full((3, 2), float(i)) for i in range(5))  # embeddings + 4 layers
    teacher_states = tuple(torch.full((3, 2), 10.0 * i) for i in range(3))  # embeddings + 2 layers
    out = compare_layers("mse", student_states, teacher_states, [(2, 1), (4, 2)])
    assert list(out) == [(2, 1), (4, 2)]
    assert out[(2, 1)].tolist() == [64.0] * 3  # (2 - 10)^2
    assert out[(4, 2)].tolist() == [256.0] * 3  # (4 - 20)^2
    with pytest.raises(ValueError, match=r"teacher layer 3 out of range 1\.\.2"):
        compare_layers("mse", student_states, teacher_states, [(1, 3)])
    spec = DivergenceSpec(params=DivergenceParams(beta=0.5))
    lenses = {"student_lens": tiny_lens(2, 5, 0), "teacher_lens": tiny_lens(2, 5, 1)}
    lens_out = compare_layers("logit_lens", student_states, teacher_states, [(4, 2)], spec=spec, **lenses)
    assert lens_out[(4, 2)].shape == (3,)


@pytest.mark.parametrize("name", ["logit_lens", "logit_lens_topk"])
def test_all_pairs_forms_equal_the_comparison_pair_by_pair(name: str) -> None:
    entry = get_hidden_comparison(name)
    assert entry.all_pairs is not None
    torch.manual_seed(3)
    student_states = tuple(torch.randn(5, 4, requires_grad=True) for _ in range(4))
    teacher_states = tuple(torch.randn(5, 6) for _ in range(4))
    pairs = [(1, 2), (3, 3), (2, 1)]
    spec = DivergenceSpec(params=DivergenceParams(beta=0.5))
    student_lens, teacher_lens = tiny_lens(4, 9, 0), tiny_lens(6, 9, 1)
    support = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 4, 8], [1, 5, 2]])
    together = compare_layers(name, student_states, teacher_states, pairs, student_lens=student_lens,
                              teacher_lens=teacher_lens, spec=spec, support=support)
    assert list(together) == pairs
    alone = {}
    for s, t in pairs:
        ctx = LayerContext(s, t, student_lens=student_lens, teacher_lens=teacher_lens, spec=spec,
                           support=support)
        alone[(s, t)] = entry.fn(student_states[s], teacher_states[t], ctx)
        assert torch.allclose(together[(s, t)], alone[(s, t)], atol=1e-6)
    # The fused forms take one backward per loss: compare the gradients of the pairs' total.
    grads_together = torch.autograd.grad(sum(v.sum() for v in together.values()), student_states[1:])
    grads_alone = torch.autograd.grad(sum(v.sum() for v in alone.values()), student_states[1:])
    for a, b in zip(grads_together, grads_alone, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_projections_save_load_round_trip(tmp_path: Path) -> None:
    projections = LayerProjections([(7, 9), (14, 18)], student_width=4, teacher_width=6)
    with torch.no_grad():
        for p in projections.parameters():
            p.normal_()
    projections.save(tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == [META_FILE, WEIGHTS_FILE]
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["pairs"] == [[7, 9], [14, 18]] and meta["student_width"] == 4 and meta["teacher_width"] == 6
    loaded = LayerProjections.load(tmp_path)
    assert loaded.pairs == [(7, 9), (14, 18)]
    for name, tensor in projections.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    hidden = torch.randn(3, 4)
    assert torch.equal(loaded(hidden, 14, 18), projections(hidden, 14, 18))


def test_projections_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=META_FILE):
        LayerProjections.load(tmp_path)
    LayerProjections([(1, 1)], 2, 3).save(tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["teacher_width"] = 5
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"{WEIGHTS_FILE}: maps.s1_t1.bias has .*\(3,\), expected \(5,\)"):
        LayerProjections.load(tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"torn")
    with pytest.raises(ValueError, match="unreadable safetensors"):
        LayerProjections.load(tmp_path)


def test_projection_param_groups_carry_the_lr_multiplier() -> None:
    projections = LayerProjections([(1, 1), (2, 2)], 3, 3)
    (group,) = projections.param_groups(lr=1e-5, lr_multiplier=10.0)
    assert group["lr"] == pytest.approx(1e-4)
    assert len(group["params"]) == 4  # two weights, two biases
    torch.optim.AdamW(projections.param_groups(1e-5, 10.0))  # a valid optimizer group
    with pytest.raises(KeyError, match="no projection for student layer 3"):
        projections.projection(3, 3)
