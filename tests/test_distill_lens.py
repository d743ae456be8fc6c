"""The fused logit lens: values and gradients against plain autograd, its FLOPs, and its backward contract."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

import audistill.distill.lens as lens_module
from audistill.config import load_config
from audistill.distill.divergences import DivergenceParams
from audistill.distill.hidden import Lens, compare_layers, logit_lens
from audistill.distill.lens import checkpointed_lens, lens_divergences
from audistill.distill.objective import Geometry, JointObjective
from audistill.distill.sources import TextualSignal
from audistill.distill.token_losses import DivergenceSpec, dense_divergence
from audistill.models.record import ForwardRecord

ROWS, PAIRS = 5, 3


def lenses(student_width: int = 6, teacher_width: int = 4, student_vocab: int = 11, teacher_vocab: int = 13,
           bias: bool = True) -> tuple[Lens, Lens]:
    torch.manual_seed(0)
    student = Lens(nn.LayerNorm(student_width), nn.Linear(student_width, student_vocab, bias=bias))
    teacher = Lens(nn.RMSNorm(teacher_width), nn.Linear(teacher_width, teacher_vocab, bias=False))
    with torch.no_grad():
        for module in (student.final_norm, teacher.final_norm):
            for p in module.parameters():  # type: ignore[attr-defined]
                p.uniform_(0.5, 1.5)
    return student, teacher


def states(width: int, requires_grad: bool, seed: int) -> list[Tensor]:
    torch.manual_seed(seed)
    return [torch.randn(ROWS, width, requires_grad=requires_grad) for _ in range(PAIRS)]


def parameters(student: Lens) -> list[Tensor]:
    return [*student.final_norm.parameters(), *student.lm_head.parameters()]  # type: ignore[attr-defined]


def grads(tensors: list[Tensor]) -> list[Tensor]:
    out = []
    for t in tensors:
        assert t.grad is not None
        out.append(t.grad.clone())
        t.grad = None
    return out


def reference(student_states: list[Tensor], teacher_states: list[Tensor], student: Lens, teacher: Lens,
              spec: DivergenceSpec) -> list[Tensor]:
    """Plain autograd: each pair's lens logits in full, then the divergence."""
    return [dense_divergence(student(s), teacher(t).detach(), spec)
            for s, t in zip(student_states, teacher_states, strict=True)]


SPECS = [
    DivergenceSpec(params=DivergenceParams(beta=0.5), chunk_size=4),  # chunks straddle the pairs
    DivergenceSpec(name="forward_kl", temperature=2.0, mask_ids=(3,), chunk_size=2),
    DivergenceSpec(name="reverse_kl", vocab_size=9, chunk_size=100),  # one chunk holds every pair
]


@pytest.mark.parametrize("spec", SPECS, ids=["jsd", "forward_kl_T2_masked", "reverse_kl_narrow"])
def test_values_and_gradients_equal_plain_autograd(spec: DivergenceSpec) -> None:
    student, teacher = lenses()
    s_states, t_states = states(6, True, seed=1), states(4, True, seed=2)
    got = lens_divergences(s_states, t_states, student, teacher, spec)
    weights = [0.3, 1.0, 2.5]  # per-pair factors, as a weighted layer sum would give
    sum(w * v.sum() for w, v in zip(weights, got, strict=True)).backward()  # type: ignore[union-attr]
    got_grads = grads([*s_states, *parameters(student)])
    assert all(t.grad is None for t in t_states)
    assert all(p.grad is None for p in teacher.lm_head.parameters())  # type: ignore[attr-defined]

    want = reference(s_states, t_states, student, teacher, spec)
    sum(w * v.sum() for w, v in zip(weights, want, strict=True)).backward()  # type: ignore[union-attr]
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)
    for g, w in zip(got_grads, grads([*s_states, *parameters(student)]), strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def test_uniform_incoming_gradients_use_the_stored_weight_gradient(monkeypatch) -> None:
    """The objective's loss weighs every row alike: no second pass over the head."""
    calls: list[int] = []
    original = lens_module._weighted_head_grads
    monkeypatch.setattr(lens_module, "_weighted_head_grads", lambda *a: (calls.append(1), original(*a))[1])
    student, teacher = lenses()
    s_states, t_states = states(6, True, 1), states(4, False, 2)
    values = lens_divergences(s_states, t_states, student, teacher, SPECS[0])
    (0.05 * torch.stack([v.sum() for v in values]).sum() / 7).backward()
    assert calls == []
    values = lens_divergences(s_states, t_states, student, teacher, SPECS[0])
    (values[0].sum() + 2 * values[1].sum()).backward()  # pair 2 unused, pair 1 twice: rows differ
    assert calls == [1]


def test_frozen_head_gets_no_gradient_and_states_still_do() -> None:
    student, teacher = lenses(bias=False)
    student.lm_head.requires_grad_(False)  # type: ignore[attr-defined]
    s_states, t_states = states(6, True, 1), states(4, False, 2)
    torch.stack([v.sum() for v in lens_divergences(s_states, t_states, student, teacher, SPECS[0])]).sum(
    ).backward()
    assert student.lm_head.weight.grad is None  # type: ignore[attr-defined]
    got = grads(s_states)
    torch.stack([v.sum() for v in reference(s_states, t_states, student, teacher, SPECS[0])]).sum().backward()
    for g, w in zip(got, grads(s_states), strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def matmul_flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    counts = counter.get_flop_counts()["Global"]
    return sum(n for op, n in counts.items() if str(op).split(".")[-1] in ("mm", "addmm"))


@pytest.mark.parametrize("trains_head", [True, False])
def test_head_matmuls_run_once_per_row_and_nothing_is_recomputed(trains_head: bool) -> None:
    student, teacher = lenses(student_width=8, teacher_width=4, student_vocab=32, teacher_vocab=32,
                              bias=False)
    student.lm_head.requires_grad_(trains_head)  # type: ignore[attr-defined]
    s_states, t_states = states(8, True, 1), states(4, False, 2)
    spec = DivergenceSpec(chunk_size=4)
    h, h_t, v, rows = 8, 4, 32, PAIRS * ROWS

    def fused() -> None:
        torch.stack([x.sum() for x in lens_divergences(s_states, t_states, student, teacher, spec)]).sum(
        ).backward()

    def checkpointed() -> None:
        torch.stack([checkpointed_lens(s, t, student, teacher, spec).sum()
                     for s, t in zip(s_states, t_states, strict=True)]).sum().backward()

    # forward 2HV, input gradient 2HV, weight gradient 2HV (trained head), teacher's head 2H_T V
    assert matmul_flops(fused) == rows * ((6 if trains_head else 4) * h * v + 2 * h_t * v)
    # the per-chunk checkpoint reruns the student's head and the teacher's lens in backward
    assert matmul_flops(checkpointed) == rows * ((8 if trains_head else 6) * h * v + 4 * h_t * v)


def test_backward_twice_is_refused_and_no_grad_gives_the_same_values() -> None:
    student, teacher = lenses()
    s_states, t_states = states(6, True, 1), states(4, False, 2)
    (values,) = lens_divergences(s_states[:1], t_states[:1], student, teacher, SPECS[0])
    loss = values.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        loss.backward()
    with torch.no_grad():
        (again,) = lens_divergences(s_states[:1], t_states[:1], student, teacher, SPECS[0])
    assert not again.requires_grad
    torch.testing.assert_close(again, values.detach())


def test_bfloat16_autocast_runs_the_head_in_bfloat16_like_autograd() -> None:
    student, teacher = lenses(bias=False)
    s_states, t_states = states(6, True, 1), states(4, False, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = lens_divergences(s_states, t_states, student, teacher, SPECS[0])
        torch.stack([v.sum() for v in got]).sum().backward()
        got_grads = grads([*s_states, student.lm_head.weight])  # type: ignore[list-item]
        want = reference(s_states, t_states, student, teacher, SPECS[0])
        torch.stack([v.sum() for v in want]).sum().backward()
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-3, rtol=0)  # both from the same bf16 logits
    for g, w in zip(got_grads, grads([*s_states, student.lm_head.weight]), strict=True):  # type: ignore[list-item]
        torch.testing.assert_close(g, w, atol=2e-2, rtol=2e-2)  # bf16 products in both


def test_compare_layers_sends_every_pair_through_one_pass(monkeypatch) -> None:
    applied: list[int] = []
    original = lens_module._FusedLens.apply
    monkeypatch.setattr(lens_module._FusedLens, "apply", lambda *a: (applied.append(1), original(*a))[1])
    student, teacher = lenses()
    s_states = tuple(torch.randn(ROWS, 6) for _ in range(4))  # layers 0..3
    t_states = tuple(torch.randn(ROWS, 4) for _ in range(5))  # layers 0..4
    pairs = [(1, 1), (2, 3), (3, 4)]
    spec = SPECS[1]
    got = compare_layers("logit_lens", s_states, t_states, pairs, student_lens=student, teacher_lens=teacher,
                         spec=spec)
    assert applied == [1] and list(got) == pairs
    for (s, t), values in got.items():
        torch.testing.assert_close(values, dense_divergence(student(s_states[s]), teacher(t_states[t]), spec))


def test_a_head_that_is_not_a_plain_linear_takes_the_checkpointed_path() -> None:
    student, teacher = lenses(bias=False)
    weight = student.lm_head.weight  # type: ignore[attr-defined]
    custom = Lens(student.final_norm, lambda h: h @ weight.T)  # e.g. a wrapped head
    s_states, t_states = states(6, True, 1), states(4, False, 2)
    got = lens_divergences(s_states, t_states, custom, teacher, SPECS[1])
    torch.stack([v.sum() for v in got]).sum().backward()
    got_grads = grads([*s_states, weight])
    want = reference(s_states, t_states, student, teacher, SPECS[1])
    torch.stack([v.sum() for v in want]).sum().backward()
    for g, w in zip([*got, *got_grads], [*want, *grads([*s_states, weight])], strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def test_mismatched_positions_are_refused() -> None:
    student, teacher = lenses()
    with pytest.raises(ValueError, match=r"5 student positions but 4 teacher positions \(pair 0\)"):
        lens_divergences([torch.zeros(5, 6)], [torch.zeros(4, 4)], student, teacher, SPECS[0])
    with pytest.raises(ValueError, match="final norm and LM head"):
        from audistill.distill.hidden import LayerContext

        logit_lens(torch.zeros(2, 4), torch.zeros(2, 4), LayerContext())


def test_the_paper_objective_with_real_heads_equals_plain_autograd() -> None:
    """JointObjective, layer-wise logit lens (4 student layers, 5 teacher layers): loss and gradients of the
    fused pass equal those of the generic path (autograd through each checkpointed chunk)."""
    student, teacher = lenses(student_width=6, teacher_width=4, student_vocab=12, teacher_vocab=12,
                              bias=False)
    cfg = load_config(None, ["acoustic_teacher.enabled=false", "textual_teacher.chunk_size=3",
                             "textual_teacher.layers.compare=logit_lens"])
    objective = JointObjective(cfg, Geometry(4, 6, 12, 5, 4, 12))
    assert objective.text_compare == "logit_lens" and len(objective.text_pairs) == 4
    torch.manual_seed(3)
    s_hidden = tuple(torch.randn(ROWS, 6, requires_grad=True) for _ in range(5))
    t_hidden = tuple(torch.randn(ROWS, 4) for _ in range(6))
    targets = torch.randint(0, 12, (ROWS,))

    def loss() -> Tensor:
        record = ForwardRecord(response_logits=student(s_hidden[4]), response_hidden=s_hidden,
                               audio_hidden=None, target_ids=targets, tokens_per_example=[ROWS],
                               audio_tokens_per_example=[0], num_layers=4, hidden_size=6, vocab_size=12,
                               final_norm=student.final_norm,
                               lm_head=student.lm_head)
        textual = TextualSignal([ROWS], logits=teacher(t_hidden[5]).detach(), hidden=t_hidden, lens=teacher)
        sums = objective(record, textual)
        return objective.loss(sums.terms, ROWS, 0)

    fused = loss()
    fused.backward()
    fused_grads = grads([*s_hidden[1:], *parameters(student)])
    original = lens_module.linear_head
    try:
        lens_module.linear_head = lambda lens: None  # type: ignore[assignment]  # force the generic path
        plain = loss()
        plain.backward()
    finally:
        lens_module.linear_head = original
    torch.testing.assert_close(fused, plain)
    for g, w in zip(fused_grads, grads([*s_hidden[1:], *parameters(student)]), strict=True):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)
