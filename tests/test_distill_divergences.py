"""Divergences: hand-computed values, properties, top-k tails, temperature, masking, chunking, gradients."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from audistill.config import ConfigError, TextualTeacherConfig
from audistill.distill.divergences import (
    DivergenceParams,
    divergence_names,
    get_divergence,
    register_divergence,
)
from audistill.distill.token_losses import (
    GPU_CHUNK_ELEMENTS,
    LOG_ZERO,
    DivergenceSpec,
    auto_chunk_size,
    cpu_chunk_elements,
    dense_divergence,
    teacher_topk,
    topk_divergence,
)

NAMES = ["forward_kl", "jsd", "reverse_kl", "skew_kl", "skew_reverse_kl", "tv"]
ln = math.log


def logits(*probs: float) -> torch.Tensor:
    """Logits of a distribution: log-probabilities plus a shift softmax must ignore."""
    return torch.tensor([probs], dtype=torch.float64).log().float() + 3.0


def value(name: str, student: torch.Tensor, teacher: torch.Tensor, **spec: object) -> float:
    return float(dense_divergence(student, teacher, DivergenceSpec(name=name, **spec))[0])  # type: ignore[arg-type]


def test_registry_lists_every_divergence_and_rejects_unknown_and_duplicates() -> None:
    assert divergence_names() == NAMES
    with pytest.raises(ValueError, match=r"unknown divergence 'kl'.*forward_kl"):
        get_divergence("kl")
    with pytest.raises(ValueError, match="already registered"):
        register_divergence("jsd")(get_divergence("jsd"))


# p_T = (0.5, 0.5), p_S = (0.25, 0.75) throughout the hand-computed cases.
TEACHER = logits(0.5, 0.5)
STUDENT = logits(0.25, 0.75)

HAND_VALUES = {
    # 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3)
    "forward_kl": 0.5 * ln(2.0) + 0.5 * ln(2.0 / 3.0),
    # 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5)
    "reverse_kl": 0.25 * ln(0.5) + 0.75 * ln(1.5),
    # m = (0.375, 0.625): 0.5 [0.5 ln(0.5/0.375) + 0.5 ln(0.5/0.625)]
    #                   + 0.5 [0.25 ln(0.25/0.375) + 0.75 ln(0.75/0.625)]
    "jsd": 0.5 * (0.5 * ln(0.5 / 0.375) + 0.5 * ln(0.5 / 0.625))
    + 0.5 * (0.25 * ln(0.25 / 0.375) + 0.75 * ln(0.75 / 0.625)),
    # lambda 0.1: m = 0.1 p_T + 0.9 p_S = (0.275, 0.725)
    "skew_kl": 0.5 * ln(0.5 / 0.275) + 0.5 * ln(0.5 / 0.725),
    # lambda 0.1: m = 0.1 p_S + 0.9 p_T = (0.475, 0.525)
    "skew_reverse_kl": 0.25 * ln(0.25 / 0.475) + 0.75 * ln(0.75 / 0.525),
    # 0.5 (|0.5 - 0.25| + |0.5 - 0.75|)
    "tv": 0.25,
}


@pytest.mark.parametrize("name", NAMES)
def test_hand_computed_values(name: str) -> None:
    assert value(name, STUDENT, TEACHER) == pytest.approx(HAND_VALUES[name], abs=1e-6)


def test_hand_values_written_out() -> None:
    # The same numbers as decimals, so a wrong formula in HAND_VALUES cannot hide.
    assert HAND_VALUES["forward_kl"] == pytest.approx(0.1438410, abs=1e-6)
    assert HAND_VALUES["reverse_kl"] == pytest.approx(0.1308120, abs=1e-6)
    assert HAND_VALUES["jsd"] == pytest.approx(0.0338220, abs=1e-6)
    assert HAND_VALUES["skew_kl"] == pytest.approx(0.1131367, abs=1e-6)
    assert HAND_VALUES["skew_reverse_kl"] == pytest.approx(0.1070427, abs=1e-6)


def test_generalised_jsd_beta_and_skew_lambda() -> None:
    # beta 0.25: m = 0.25 p_T + 0.75 p_S = (0.3125, 0.6875)
    expected = 0.25 * (0.5 * ln(0.5 / 0.3125) + 0.5 * ln(0.5 / 0.6875)) + 0.75 * (
        0.25 * ln(0.25 / 0.3125) + 0.75 * ln(0.75 / 0.6875))
    params = DivergenceParams(beta=0.25)
    assert value("jsd", STUDENT, TEACHER, params=params) == pytest.approx(expected, abs=1e-6)
    # endpoints: the limits JSD/beta -> forward KL, JSD/(1-beta) -> reverse KL (TRL's convention)
    assert value("jsd", STUDENT, TEACHER, params=DivergenceParams(beta=0.0)) == pytest.approx(
        HAND_VALUES["forward_kl"], abs=1e-6)
    assert value("jsd", STUDENT, TEACHER, params=DivergenceParams(beta=1.0)) == pytest.approx(
        HAND_VALUES["reverse_kl"], abs=1e-6)
    # skew endpoints: lambda 0 is plain KL, lambda 1 compares p with itself
    assert value("skew_kl", STUDENT, TEACHER, params=DivergenceParams(skew_lambda=0.0)) == pytest.approx(
        HAND_VALUES["forward_kl"], abs=1e-6)
    srkl0 = value("skew_reverse_kl", STUDENT, TEACHER, params=DivergenceParams(skew_lambda=0.0))
    assert srkl0 == pytest.approx(HAND_VALUES["reverse_kl"], abs=1e-6)
    assert value("skew_kl", STUDENT, TEACHER, params=DivergenceParams(skew_lambda=1.0)) == 0.0
    with pytest.raises(ValueError, match="beta must be in"):
        DivergenceParams(beta=1.5)


def random_pair(rows: int = 6, vocab: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, vocab, generator=gen) * 2, torch.randn(rows, vocab, generator=gen) * 2


@pytest.mark.parametrize("name", NAMES)
def test_zero_iff_equal(name: str) -> None:
    student, teacher = random_pair()
    spec = DivergenceSpec(name=name)
    same = dense_divergence(teacher + 5.0, teacher, spec)  # a shifted copy is the same distribution
    assert same.abs().max() < 1e-6
    assert (dense_divergence(student, teacher, spec) > 1e-4).all()


def test_jsd_symmetric_and_bounded_by_ln2() -> None:
    student, teacher = random_pair(rows=20)
    forward = dense_divergence(student, teacher)
    assert torch.allclose(forward, dense_divergence(teacher, student), atol=1e-6)
    assert (forward <= ln(2.0)).all()
    # near-one-hot on different ids: the maximum ln 2 (and TV's maximum 1)
    disjoint_s = torch.tensor([[60.0, 0.0, 0.0]])
    disjoint_t = torch.tensor([[0.0, 0.0, 60.0]])
    assert float(dense_divergence(disjoint_s, disjoint_t)[0]) == pytest.approx(ln(2.0), abs=1e-6)
    assert float(dense_divergence(disjoint_s, disjoint_t, DivergenceSpec(name="tv"))[0]) == pytest.approx(1.0)
    # exactly one-hot (log 0 on the other ids)
    jsd = get_divergence("jsd")
    exact = jsd(torch.tensor([[0.0, LOG_ZERO]]), torch.tensor([[LOG_ZERO, 0.0]]))
    assert float(exact[0]) == pytest.approx(ln(2.0), abs=1e-7)


def test_matches_trl_generalized_jsd() -> None:
    trl_gkd = pytest.importorskip("trl.experimental.gkd.gkd_trainer")
    student, teacher = random_pair(rows=5, vocab=7, seed=3)
    for beta in (0.0, 0.25, 0.5, 1.0):
        ours = dense_divergence(student, teacher, DivergenceSpec(params=DivergenceParams(beta=beta)))
        theirs = trl_gkd.GKDTrainer.generalized_jsd_loss(
            student[None], teacher[None], beta=beta, reduction="sum")
        assert float(ours.sum()) == pytest.approx(float(theirs), rel=1e-5), beta


def test_temperature_divides_logits_and_scales_by_t_squared() -> None:
    # logits / 2 give p_S = (0.25, 0.75), p_T = (0.5, 0.5); the loss is 2^2 times their KL
    student = 2.0 * torch.tensor([[0.25, 0.75]]).log()
    teacher = 2.0 * torch.tensor([[0.5, 0.5]]).log()
    got = value("forward_kl", student, teacher, temperature=2.0)
    assert got == pytest.approx(4.0 * HAND_VALUES["forward_kl"], abs=1e-5)
    assert TextualTeacherConfig().temperature == 1.0
    assert "T^2" in TextualTeacherConfig.model_fields["temperature"].description  # type: ignore[operator]


def test_mask_ids_are_removed_and_both_sides_renormalised() -> None:
    # masking id 2: teacher (0.4, 0.4, 0.2) -> (0.5, 0.5); student (0.2, 0.6, 0.2) -> (0.25, 0.75)
    student, teacher = logits(0.2, 0.6, 0.2), logits(0.4, 0.4, 0.2)
    for name in NAMES:
        got = value(name, student, teacher, mask_ids=(2,))
        assert got == pytest.approx(HAND_VALUES[name], abs=1e-6), name
    # ids past the compared vocabulary are ignored rather than an error
    assert value("jsd", student, teacher, mask_ids=(2, 999)) == pytest.approx(HAND_VALUES["jsd"], abs=1e-6)


def test_shared_vocabulary_slices_the_wider_side() -> None:
    student, teacher = random_pair(vocab=6)
    padded = torch.cat([student, torch.full((student.shape[0], 2), 5.0)], dim=1)  # padded rows
    assert torch.allclose(dense_divergence(padded, teacher), dense_divergence(student, teacher), atol=1e-6)
    narrower = dense_divergence(student, teacher, DivergenceSpec(vocab_size=4))
    assert torch.allclose(narrower, dense_divergence(student[:, :4], teacher[:, :4]), atol=1e-6)
    with pytest.raises(ValueError, match="vocab_size 7 exceeds"):
        dense_divergence(student, teacher, DivergenceSpec(vocab_size=7))


def test_mismatched_token_counts_fail_clearly() -> None:
    with pytest.raises(ValueError, match="student has 2 target tokens but the teacher has 3"):
        dense_divergence(torch.zeros(2, 4), torch.zeros(3, 4))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tail", ["renormalise", "bucket"])
def test_topk_with_k_equal_vocab_equals_dense(name: str, tail: str) -> None:
    student, teacher = random_pair()
    spec = DivergenceSpec(name=name, tail=tail, temperature=1.5)  # type: ignore[arg-type]
    ids, logprobs = teacher_topk(teacher, k=teacher.shape[1], spec=spec)
    sparse = topk_divergence(student, ids, logprobs, spec)
    assert torch.allclose(sparse, dense_divergence(student, teacher, spec), atol=2e-6)


def test_topk_tails_by_hand() -> None:
    # V = 4, k = 2: teacher (0.5, 0.3, 0.1, 0.1), student (0.25, 0.25, 0.4, 0.1)
    student, teacher = logits(0.25, 0.25, 0.4, 0.1), logits(0.5, 0.3, 0.1, 0.1)
    ids, logprobs = teacher_topk(teacher, k=2)
    assert ids.tolist() == [[0, 1]]
    assert logprobs.exp().tolist()[0] == pytest.approx([0.5, 0.3], abs=1e-6)
    dense = 0.5 * ln(0.5 / 0.25) + 0.3 * ln(0.3 / 0.25) + 0.1 * ln(0.1 / 0.4) + 0.1 * ln(0.1 / 0.1)
    bucket = 0.5 * ln(0.5 / 0.25) + 0.3 * ln(0.3 / 0.25) + 0.2 * ln(0.2 / 0.5)  # tail: (0.2 vs 0.5)
    renorm = 0.625 * ln(0.625 / 0.5) + 0.375 * ln(0.375 / 0.5)  # (0.5, 0.3)/0.8 vs (0.25, 0.25)/0.5
    got = {tail: float(topk_divergence(student, ids, logprobs, DivergenceSpec("forward_kl", tail=tail))[0])
           for tail in ("bucket", "renormalise")}
    assert value("forward_kl", student, teacher) == pytest.approx(dense, abs=1e-6)
    assert got["bucket"] == pytest.approx(bucket, abs=1e-6)
    assert got["renormalise"] == pytest.approx(renorm, abs=1e-6)
    assert len({round(dense, 4), round(bucket, 4), round(renorm, 4)}) == 3


def test_topk_masking_drops_masked_ids_from_teacher_and_student() -> None:
    student, teacher = random_pair(vocab=7)
    spec = DivergenceSpec(name="forward_kl", mask_ids=(3,))
    ids, logprobs = teacher_topk(teacher, k=6, spec=spec)  # every kept id
    assert not (ids == 3).any()
    sparse = topk_divergence(student, ids, logprobs, spec)
    assert torch.allclose(sparse, dense_divergence(student, teacher, spec), atol=2e-6)
    # a cache made without the mask: the masked id sits in the top-k and is dropped at loss time
    full_ids, full_logprobs = teacher_topk(teacher, k=7)
    for tail in ("bucket", "renormalise"):
        masked = dataclasses.replace(spec, tail=tail)
        assert torch.allclose(topk_divergence(student, full_ids, full_logprobs, masked),
                              dense_divergence(student, teacher, masked), atol=2e-6), tail


def test_topk_rejects_ids_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\)"):
        topk_divergence(torch.zeros(1, 4), torch.tensor([[4, 0]]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"k must be in 1\.\.3"):
        teacher_topk(torch.zeros(1, 4), k=4, spec=DivergenceSpec(mask_ids=(0,)))


def reference_forward_kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Unchunked textbook formula, to check values and gradients of the chunked path."""
    p_t = teacher.float().softmax(-1)
    return (p_t * (p_t.log() - student.float().log_softmax(-1))).sum(-1)


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_chunking_gives_the_unchunked_values_and_gradients(chunk_size: int) -> None:
    student, teacher = random_pair(rows=10, vocab=13)
    student.requires_grad_(True)
    weights = torch.linspace(0.5, 2.0, 10)  # a non-uniform upstream gradient
    spec = DivergenceSpec(name="forward_kl", chunk_size=chunk_size)
    loss = dense_divergence(student, teacher, spec)
    (loss * weights).sum().backward()
    got_grad = student.grad.clone()  # type: ignore[union-attr]
    student.grad = None
    reference = reference_forward_kl(student, teacher)
    (reference * weights).sum().backward()
    assert torch.allclose(loss, reference, atol=1e-6)
    assert torch.allclose(got_grad, student.grad, atol=1e-6)  # type: ignore[arg-type]


def test_topk_bucket_gradients_match_the_textbook_formula() -> None:
    student, teacher = random_pair(rows=5, vocab=8, seed=1)
    student.requires_grad_(True)
    ids, logprobs = teacher_topk(teacher, k=3)
    spec = DivergenceSpec(name="forward_kl", tail="bucket", chunk_size=2)
    topk_divergence(student, ids, logprobs, spec).sum().backward()
    got = student.grad.clone()  # type: ignore[union-attr]
    student.grad = None
    logp_s = student.log_softmax(-1)
    s_top = logp_s.gather(1, ids)
    s_tail = (1 - s_top.exp().sum(-1, keepdim=True)).log()
    t_top = logprobs
    t_tail = (1 - t_top.exp().sum(-1, keepdim=True)).log()
    s_all, t_all = torch.cat([s_top, s_tail], 1), torch.cat([t_top, t_tail], 1)
    (t_all.exp() * (t_all - s_all)).sum().backward()
    assert torch.allclose(got, student.grad, atol=1e-5)  # type: ignore[arg-type]


@pytest.mark.parametrize("sparse", [False, True])
def test_gradients_reach_the_student_only(sparse: bool) -> None:
    student, teacher = random_pair()
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    for name in NAMES:
        spec = DivergenceSpec(name=name, chunk_size=4)
        if sparse:
            ids, logprobs = teacher_topk(teacher, k=4, spec=spec)
            logprobs = logprobs.clone().requires_grad_(True)
            loss = topk_divergence(student, ids, logprobs, spec)
        else:
            loss = dense_divergence(student, teacher, spec)
        loss.sum().backward()
        assert teacher.grad is None and (not sparse or logprobs.grad is None), name
        assert student.grad is not None and student.grad.abs().sum() > 0, name
        student.grad = None


def test_bf16_logits_computed_in_fp32_with_bf16_gradients() -> None:
    student, teacher = random_pair()
    low = student.bfloat16().requires_grad_(True)
    loss = dense_divergence(low, teacher.bfloat16())
    assert loss.dtype == torch.float32
    reference = dense_divergence(low.detach().float(), teacher.bfloat16().float())
    assert torch.allclose(loss, reference, atol=1e-6)
    loss.sum().backward()
    assert low.grad is not None and low.grad.dtype == torch.bfloat16


def test_no_grad_and_empty_inputs() -> None:
    student, teacher = random_pair()
    with torch.no_grad():
        plain = dense_divergence(student.requires_grad_(True), teacher)
    assert plain.grad_fn is None
    assert dense_divergence(torch.zeros(0, 5), torch.zeros(0, 5)).shape == (0,)


def test_backward_twice_is_refused() -> None:
    student, teacher = random_pair()
    loss = dense_divergence(student.requires_grad_(True), teacher).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        loss.backward()


def test_spec_from_config_and_bad_names() -> None:
    teacher = TextualTeacherConfig(divergence="skew_kl", skew_lambda=0.2, temperature=2.0, tail="renormalise",
                                   mask_token_ids=[5], chunk_size=64)
    spec = DivergenceSpec.from_config(teacher, vocab_size=100)
    assert (spec.name, spec.params.skew_lambda, spec.temperature, spec.tail, spec.mask_ids, spec.chunk_size,
            spec.vocab_size) == ("skew_kl", 0.2, 2.0, "renormalise", (5,), 64, 100)
    with pytest.raises(ConfigError, match=r"textual_teacher\.divergence: unknown divergence 'kl'"):
        DivergenceSpec.from_config(TextualTeacherConfig(divergence="kl"))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DivergenceSpec(temperature=0.0)


def test_automatic_chunk_size_follows_the_device_budget() -> None:
    cpu = torch.device("cpu")
    assert auto_chunk_size(None, 32768, cpu) == cpu_chunk_elements() // 32768
    assert auto_chunk_size(None, 32768, cpu, cpu_elements=1 << 18) == 8
    assert auto_chunk_size(None, 152064, torch.device("cuda")) == GPU_CHUNK_ELEMENTS // 152064
    assert auto_chunk_size(None, 10**9, cpu) == 1
    assert auto_chunk_size(7, 32768, cpu) == 7
    assert TextualTeacherConfig().chunk_size is None


def test_cpu_chunks_hold_one_l2_cache_of_fp32(tmp_path, monkeypatch) -> None:
    from audistill import runtime
    from audistill.distill import token_losses

    def cache(index: int, level: int, kind: str, size: str) -> None:
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, text in (("level", f"{level}\n"), ("type", f"{kind}\n"), ("size", f"{size}\n")):
            (folder / name).write_text(text)

    cache(0, 1, "Data", "32K")
    cache(1, 1, "Instruction", "32K")
    cache(2, 2, "Unified", "512K")
    cache(3, 3, "Unified", "32768K")
    assert runtime.l2_cache_bytes.__wrapped__(tmp_path) == 512 * 1024
    assert runtime.l2_cache_bytes.__wrapped__(tmp_path / "missing") is None
    monkeypatch.setattr(token_losses, "l2_cache_bytes", lambda: 1 << 20)
    assert cpu_chunk_elements() == 1 << 18
    assert auto_chunk_size(None, 5376, torch.device("cpu")) == (1 << 18) // 5376
    monkeypatch.setattr(token_losses, "l2_cache_bytes", lambda: None)
    assert cpu_chunk_elements() == token_losses.CPU_CHUNK_ELEMENTS_UNKNOWN_L2
