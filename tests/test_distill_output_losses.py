"""The fused output-layer terms equal CE (F.cross_entropy) and the divergence (token_losses) apart."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from audistill.distill.divergences import DivergenceParams
from audistill.distill.output_losses import divergence_value_and_grad, output_losses
from audistill.distill.token_losses import DivergenceSpec, dense_divergence, teacher_topk, topk_divergence

W_CE, W_DIV = 0.5, 1.3


def logits(rows: int, width: int, seed: int, scale: float = 2.0) -> Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(seed)) * scale


def apart(student: Tensor, targets: Tensor, spec: DivergenceSpec, *, teacher: Tensor | None = None,
          top: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    z = student.clone().requires_grad_(True)
    ce = F.cross_entropy(z.float(), targets, reduction="none")
    div = dense_divergence(z, teacher, spec) if teacher is not None else topk_divergence(z, *top, spec)
    (W_CE * ce.sum() + W_DIV * div.sum()).backward()
    assert z.grad is not None
    return ce.detach(), div.detach(), z.grad


def fused(student: Tensor, targets: Tensor, spec: DivergenceSpec, *, teacher: Tensor | None = None,
          top: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    z = student.clone().requires_grad_(True)
    kwargs = {"teacher_logits": teacher} if teacher is not None else \
        {"teacher_ids": top[0], "teacher_logprobs": top[1]}
    ce, div = output_losses(z, targets, spec=spec, weights=(W_CE, W_DIV), **kwargs)
    assert ce is not None and div is not None
    (W_CE * ce.sum() + W_DIV * div.sum()).backward()
    assert z.grad is not None
    return ce.detach(), div.detach(), z.grad


def assert_same(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(("name", "beta", "temperature", "mask", "teacher_width", "chunk"), [
    ("jsd", 0.5, 1.0, (), 40, None),
    ("jsd", 0.5, 2.0, (3, 7), 40, 3),
    ("jsd", 0.2, 1.0, (), 36, 5),  # teacher narrower: compared over 36 ids, CE over all 40
    ("jsd", 0.0, 1.0, (), 44, None),
    ("jsd", 1.0, 0.5, (1,), 40, 4),
    ("forward_kl", 0.5, 1.0, (2,), 40, 2),
    ("reverse_kl", 0.5, 1.5, (), 40, None),
    ("skew_kl", 0.5, 1.0, (5,), 40, 3),  # no closed form: autograd on the log-probabilities
    ("tv", 0.5, 1.0, (), 40, None),
])
def test_dense_teacher_matches_the_separate_terms(name, beta, temperature, mask, teacher_width, chunk):
    spec = DivergenceSpec(name=name, params=DivergenceParams(beta=beta), temperature=temperature,
                          mask_ids=mask, chunk_size=chunk)
    student, teacher = logits(11, 40, 0), logits(11, teacher_width, 1)
    targets = torch.randint(0, 40, (11,), generator=torch.Generator().manual_seed(2))
    assert_same(apart(student, targets, spec, teacher=teacher),
                fused(student, targets, spec, teacher=teacher))


@pytest.mark.parametrize("tail", ["bucket", "renormalise"])
@pytest.mark.parametrize(("name", "temperature", "mask", "k", "peaked"), [
    ("jsd", 1.0, (), 6, False),
    ("jsd", 2.0, (3,), 6, True),  # the student's top-k hold most of its mass: the exact tail path
    ("forward_kl", 1.0, (0, 9), 30, True),  # top-k = every kept id: no tail
    ("skew_kl", 0.7, (), 4, False),
])
def test_topk_teacher_matches_the_separate_terms(tail, name, temperature, mask, k, peaked):
    spec = DivergenceSpec(name=name, temperature=temperature, mask_ids=mask, tail=tail, chunk_size=4)
    teacher = logits(9, 32, 3)
    student = logits(9, 32, 4, scale=0.5)
    ids, logprobs = teacher_topk(teacher, k, spec)
    if peaked:  # put the student's mass on the teacher's favourites
        student = student.scatter_add(1, ids[:, :3], torch.full((9, 3), 6.0))
    targets = torch.randint(0, 32, (9,), generator=torch.Generator().manual_seed(5))
    assert_same(apart(student, targets, spec, top=(ids, logprobs)),
                fused(student, targets, spec, top=(ids, logprobs)))


def test_each_term_alone_and_without_gradients():
    spec = DivergenceSpec(chunk_size=3)
    student, teacher = logits(7, 20, 6), logits(7, 20, 7)
    targets = torch.randint(0, 20, (7,), generator=torch.Generator().manual_seed(8))
    z = student.clone().requires_grad_(True)
    ce, none = output_losses(z, targets, spec=spec, weights=(0.5, 1.0))
    assert none is None and ce is not None
    (0.5 * ce.sum()).backward()
    want = student.clone().requires_grad_(True)
    (0.5 * F.cross_entropy(want, targets, reduction="sum")).backward()
    torch.testing.assert_close(z.grad, want.grad)
    none, div = output_losses(student, teacher_logits=teacher, spec=spec)
    assert none is None and div is not None
    torch.testing.assert_close(div, dense_divergence(student, teacher, spec))
    with torch.no_grad():
        ce2, div2 = output_losses(student.requires_grad_(True), targets, teacher_logits=teacher, spec=spec)
    assert ce2 is not None and div2 is not None and not div2.requires_grad
    torch.testing.assert_close(ce2, F.cross_entropy(student.detach(), targets, reduction="none"))


def test_backward_refuses_gradients_out_of_the_weights_ratio():
    student, teacher = logits(5, 12, 9), logits(5, 12, 10)
    targets = torch.zeros(5, dtype=torch.long)
    z = student.clone().requires_grad_(True)
    ce, div = output_losses(z, targets, teacher_logits=teacher, weights=(0.5, 1.0))
    assert ce is not None and div is not None
    with pytest.raises(RuntimeError, match="ratio of the weights"):
        (ce.sum() + div.sum()).backward()  # 1:1, not 0.5:1
    with pytest.raises(ValueError, match="positive weight"):
        output_losses(z, targets, teacher_logits=teacher, weights=(0.0, 1.0))


def test_bf16_logits_get_bf16_gradients_close_to_fp32():
    spec = DivergenceSpec()
    student, teacher = logits(6, 24, 11), logits(6, 24, 12)
    targets = torch.randint(0, 24, (6,), generator=torch.Generator().manual_seed(13))
    ce32, div32, g32 = fused(student, targets, spec, teacher=teacher)
    ce16, div16, g16 = fused(student.bfloat16(), targets, spec, teacher=teacher)
    assert g16.dtype == torch.bfloat16
    torch.testing.assert_close(g16.float(), g32, rtol=0.05, atol=0.01)
    torch.testing.assert_close(div16, div32, rtol=0.05, atol=0.01)
    torch.testing.assert_close(ce16, ce32, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("name", ["jsd", "forward_kl", "reverse_kl"])
def test_closed_form_gradients_equal_autograd(name):
    params = DivergenceParams(beta=0.3)
    s = torch.log_softmax(logits(4, 10, 14), -1)
    t = torch.log_softmax(logits(4, 10, 15), -1)
    value, grad = divergence_value_and_grad(name, s, t, params)
    from audistill.distill.divergences import get_divergence

    leaf = s.clone().requires_grad_(True)
    want = get_divergence(name)(leaf, t, params)
    want.sum().backward()
    torch.testing.assert_close(value, want.detach())
    torch.testing.assert_close(grad, leaf.grad)


def test_under_a_checkpoint_the_first_pass_skips_the_gradient_and_backward_recomputes_it():
    from torch.utils.checkpoint import checkpoint

    from audistill.distill.output_losses import checkpoint_contexts

    spec = DivergenceSpec(chunk_size=3)
    head = torch.nn.Linear(5, 16)
    hidden, teacher = logits(7, 5, 20), logits(7, 16, 21)
    targets = torch.randint(0, 16, (7,), generator=torch.Generator().manual_seed(22))

    def loss(h: Tensor) -> Tensor:
        ce, div = output_losses(head(h), targets, teacher_logits=teacher, spec=spec, weights=(W_CE, W_DIV))
        assert ce is not None and div is not None
        return W_CE * ce + W_DIV * div

    plain = hidden.clone().requires_grad_(True)
    loss(plain).sum().backward()
    want = (plain.grad, head.weight.grad.clone())
    head.zero_grad()
    checkpointed = hidden.clone().requires_grad_(True)
    value = checkpoint(loss, checkpointed, use_reentrant=False, context_fn=checkpoint_contexts)
    torch.testing.assert_close(value, loss(hidden).detach())
    value.sum().backward()
    torch.testing.assert_close(checkpointed.grad, want[0])
    torch.testing.assert_close(head.weight.grad, want[1])
