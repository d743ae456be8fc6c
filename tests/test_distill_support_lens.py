"""The logit lens over the textual teacher's top-k ids: its formula, its gradients, and its place in the
objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import audistill.distill.support_lens as support_module
from audistill.config import ConfigError, load_config
from audistill.distill.hidden import Lens, compare_layers
from audistill.distill.lens import lens_divergences
from audistill.distill.objective import Geometry, JointObjective
from audistill.distill.sources import TextualSignal
from audistill.distill.support_lens import support_lens_divergences
from audistill.distill.token_losses import DivergenceSpec, teacher_topk, top_ids
from audistill.models.record import ForwardRecord

ROWS, PAIRS, VOCAB, K = 5, 3, 12, 4


def lenses(bias: bool = True) -> tuple[Lens, Lens]:
    torch.manual_seed(0)
    student = Lens(nn.LayerNorm(6), nn.Linear(6, VOCAB, bias=bias))
    teacher = Lens(nn.RMSNorm(4), nn.Linear(4, VOCAB, bias=False))
    return student, teacher


def inputs(requires_grad: bool = True) -> tuple[list[Tensor], list[Tensor], Tensor]:
    torch.manual_seed(1)
    student = [torch.randn(ROWS, 6, requires_grad=requires_grad) for _ in range(PAIRS)]
    teacher = [torch.randn(ROWS, 4) for _ in range(PAIRS)]
    support = torch.stack([torch.randperm(VOCAB)[:K] for _ in range(ROWS)])
    return student, teacher, support


def by_hand(student_states: list[Tensor], teacher_states: list[Tensor], student: Lens, teacher: Lens,
            support: Tensor, temperature: float) -> list[Tensor]:
    """JSD between the two lens distributions over each row's support, renormalised there, times T^2."""
    out = []
    for s, t in zip(student_states, teacher_states, strict=True):
        p_s = F.softmax(student(s).gather(1, support) / temperature, dim=-1)
        p_t = F.softmax(teacher(t).detach().gather(1, support) / temperature, dim=-1)
        m = (p_s + p_t) / 2
        jsd = 0.5 * (p_t * (p_t / m).log()).sum(-1) + 0.5 * (p_s * (p_s / m).log()).sum(-1)
        out.append(temperature**2 * jsd)
    return out


def test_the_chunking_changes_no_bit_of_values_or_gradients(monkeypatch) -> None:
    """Chunks follow the machine's cache size, so results must not depend on them."""
    student, teacher = lenses()
    results = []
    for positions in (1, 2, ROWS):
        monkeypatch.setattr(support_module, "_chunk_elements", lambda _device, p=positions: p * K * 6)
        s_states, t_states, support = inputs()
        values = support_lens_divergences(s_states, t_states, student, teacher, support, DivergenceSpec())
        params = [*s_states, *student.final_norm.parameters(), *student.lm_head.parameters()]  # type: ignore[attr-defined]
        results.append([*values, *torch.autograd.grad(sum(v.sum() for v in values), params)])
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_values_and_gradients_equal_the_formula(monkeypatch, temperature: float) -> None:
    # 2 positions per chunk: 3 chunks
    monkeypatch.setattr(support_module, "_chunk_elements", lambda _device: 2 * K * 6)
    student, teacher = lenses()
    s_states, t_states, support = inputs()
    spec = DivergenceSpec(temperature=temperature)
    got = support_lens_divergences(s_states, t_states, student, teacher, support, spec)
    want = by_hand(s_states, t_states, student, teacher, support, temperature)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)
    params = [*s_states, *student.final_norm.parameters(), *student.lm_head.parameters()]  # type: ignore[attr-defined]
    got_grads = torch.autograd.grad(sum(v.sum() for v in got), params)
    want_grads = torch.autograd.grad(sum(v.sum() for v in want), params)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)
    head_grad = got_grads[-2]  # only the rows some position's support names receive gradient
    untouched = sorted(set(range(VOCAB)) - set(support.flatten().tolist()))
    assert untouched and head_grad[untouched].abs().max() == 0


def test_a_second_backward_through_the_same_values_is_refused() -> None:
    """Backward scales the gradients kept from the forward in place, so a retained graph would scale them
    twice; it is refused instead."""
    student, teacher = lenses()
    s_states, t_states, support = inputs()
    got = support_lens_divergences(s_states, t_states, student, teacher, support, DivergenceSpec())
    loss = sum(v.sum() for v in got)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        loss.backward()


def test_the_whole_vocabulary_as_support_is_the_exact_lens() -> None:
    student, teacher = lenses()
    s_states, t_states, _ = inputs()
    everything = torch.arange(VOCAB).expand(ROWS, VOCAB)
    spec = DivergenceSpec()
    got = support_lens_divergences(s_states, t_states, student, teacher, everything, spec)
    exact = lens_divergences(s_states, t_states, student, teacher, spec)
    for g, w in zip(got, exact, strict=True):
        torch.testing.assert_close(g, w)


def test_bad_support_and_heads_are_refused() -> None:
    student, teacher = lenses()
    s_states, t_states, support = inputs()
    with pytest.raises(ValueError, match=r"support must be \[positions, k\] with 5 positions"):
        support_lens_divergences(s_states, t_states, student, teacher, support[:3], DivergenceSpec())
    with pytest.raises(ValueError, match="support id 12 is outside the student's vocabulary of 12"):
        support_lens_divergences(s_states, t_states, student, teacher, support + VOCAB - support.max(),
                                 DivergenceSpec())
    wrapped = Lens(student.final_norm, lambda h: student.lm_head(h))
    with pytest.raises(ValueError, match=r"student's LM head is a function, not a plain nn\.Linear"):
        support_lens_divergences(s_states, t_states, wrapped, teacher, support, DivergenceSpec())
    with pytest.raises(ValueError, match="needs the textual teacher's top-k ids"):
        compare_layers("logit_lens_topk", [s_states[0], s_states[0]], [t_states[0], t_states[0]], [(1, 1)],
                       student_lens=student, teacher_lens=teacher)


def objective_loss(overrides: list[str], teacher_signal: str = "logits") -> tuple[Tensor, Tensor]:
    """The paper's objective (4 student layers, 5 teacher layers) with the support lens; returns the loss
    and the support the layer terms used."""
    student, teacher = lenses(bias=False)
    cfg = load_config(None, ["acoustic_teacher.enabled=false", f"textual_teacher.layers.lens_top_k={K}",
                             *overrides])
    objective = JointObjective(cfg, Geometry(4, 6, VOCAB, 5, 4, VOCAB))
    torch.manual_seed(3)
    s_hidden = tuple(torch.randn(ROWS, 6, requires_grad=True) for _ in range(5))
    t_hidden = tuple(torch.randn(ROWS, 4) for _ in range(6))
    record = ForwardRecord(response_logits=student(s_hidden[4]), response_hidden=s_hidden, audio_hidden=None,
                           target_ids=torch.randint(0, VOCAB, (ROWS,)), tokens_per_example=[ROWS],
                           audio_tokens_per_example=[0], num_layers=4, hidden_size=6, vocab_size=VOCAB,
                           final_norm=student.final_norm, lm_head=student.lm_head)
    teacher_logits = teacher(t_hidden[5]).detach()
    support = teacher_logits.topk(K, dim=-1).indices
    if teacher_signal == "logits":
        textual = TextualSignal([ROWS], logits=teacher_logits, hidden=t_hidden, lens=teacher)
    else:
        logprobs = F.log_softmax(teacher_logits, -1)
        top = logprobs.topk(int(teacher_signal), dim=-1)
        textual = TextualSignal([ROWS], topk_ids=top.indices, topk_logprobs=top.values, hidden=t_hidden,
                                lens=teacher)
    sums = objective(record, textual)
    layer_sum = sum(v.sum() for v in support_lens_divergences(
        [s_hidden[i] for i, _ in objective.text_pairs], [t_hidden[j] for _, j in objective.text_pairs],
        student, teacher, support, objective.spec))
    return sums.terms["text_layers"], layer_sum


def test_the_objective_takes_the_support_from_the_teachers_top_layer() -> None:
    from_logits, expected = objective_loss([])
    whole, _ = objective_loss(["textual_teacher.layers.lens_top_k=64"])  # more than the vocabulary: all of it
    exact, _ = objective_loss(["textual_teacher.layers.compare=logit_lens"])
    torch.testing.assert_close(whole, exact)
    torch.testing.assert_close(from_logits, expected)
    from_topk, _ = objective_loss(["textual_teacher.top_k=6"], teacher_signal="6")
    torch.testing.assert_close(from_topk, expected)
    with pytest.raises(ValueError, match="lens_top_k = 4, but the teacher signal keeps 3 tokens"):
        objective_loss(["textual_teacher.top_k=3"], teacher_signal="3")


def test_the_acoustic_layers_cannot_use_it() -> None:
    geometry = Geometry(4, 6, VOCAB, 5, 4, VOCAB)
    message = r"acoustic_teacher\.layers\.compare: logit_lens_topk compares over"
    with pytest.raises(ConfigError, match=message):
        JointObjective(load_config(None, ["acoustic_teacher.layers.compare=logit_lens_topk"]), geometry)


def test_top_ids_are_the_teachers_top_k_without_the_log_softmax() -> None:
    torch.manual_seed(5)
    logits = torch.randn(7, 20)
    spec = DivergenceSpec(temperature=0.7, vocab_size=18, mask_ids=(3, 11))
    ids = top_ids(logits, 5, spec)
    want, _ = teacher_topk(logits, 5, spec)
    assert torch.equal(ids, want)
    assert top_ids(logits, 50, spec).shape == (7, 16)  # 18 kept ids minus 2 masked: all of them


def test_row_weighted_gradients_and_a_frozen_head() -> None:
    """Rows that receive different incoming gradients take the head's recompute path; a frozen head gets
    no gradient while the states still do."""
    student, teacher = lenses()
    s_states, t_states, support = inputs()
    weights = [torch.rand(ROWS) for _ in range(PAIRS)]
    params = [*s_states, *student.lm_head.parameters()]  # type: ignore[attr-defined]
    got = support_lens_divergences(s_states, t_states, student, teacher, support, DivergenceSpec())
    want = by_hand(s_states, t_states, student, teacher, support, 1.0)
    got_grads = torch.autograd.grad(sum((w * v).sum() for w, v in zip(weights, got, strict=True)), params)
    want_grads = torch.autograd.grad(sum((w * v).sum() for w, v in zip(weights, want, strict=True)), params)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)
    student.lm_head.requires_grad_(False)  # type: ignore[attr-defined]
    values = support_lens_divergences(s_states, t_states, student, teacher, support, DivergenceSpec())
    sum(v.sum() for v in values).backward()
    assert student.lm_head.weight.grad is None  # type: ignore[attr-defined]
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in s_states)
