"""The joint objective: every term by hand on known tensors, weights, reductions, normalisation, switches."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from audistill.config import ConfigError, RunConfig, load_config
from audistill.distill.hidden import Lens
from audistill.distill.objective import Geometry, JointObjective
from audistill.distill.sources import AcousticSignal, TextualSignal
from audistill.models.record import ForwardRecord

GEOMETRY = Geometry(student_layers=2, student_width=2, student_vocab=4, teacher_layers=4, teacher_width=2,
                    teacher_vocab=5)

STUDENT_LOGITS = [[1.0, 0.5, -0.5, 0.0], [0.2, 0.1, 0.3, -1.0], [2.0, -1.0, 0.0, 0.5]]
TEACHER_LOGITS = [[0.5, 1.0, 0.0, 0.0, 9.0], [0.0, 0.0, 1.0, -0.5, 9.0], [1.0, 0.0, 0.0, 1.5, 9.0]]
TARGETS = [1, 0, 3]
# hidden states (layer 0..L) at the 3 target positions / 2 audio positions, width 2
STUDENT_RESPONSE = [[[0, 0]] * 3, [[1, 2], [0, 1], [3, 0]], [[1, 1], [2, 2], [0, -1]]]
TEACHER_RESPONSE = [[[0, 0]] * 3, [[9, 9]] * 3, [[1, 1], [0, 1], [2, 0]], [[9, 9]] * 3,
                    [[0, 1], [2, 0], [0, 0]]]
STUDENT_AUDIO = [[[0, 0]] * 2, [[1, 0], [0, 2]], [[1, 1], [-1, 1]]]
TEACHER_AUDIO = [[[5, 5]] * 2, [[0, 0], [1, 1]], [[1, 2], [-1, -1]]]


def states(values: list) -> tuple[Tensor, ...]:
    return tuple(torch.tensor(layer, dtype=torch.float32, requires_grad=True) for layer in values)


def student_record() -> ForwardRecord:
    return ForwardRecord(
        response_logits=torch.tensor(STUDENT_LOGITS, requires_grad=True),
        response_hidden=states(STUDENT_RESPONSE), audio_hidden=states(STUDENT_AUDIO),
        target_ids=torch.tensor(TARGETS), tokens_per_example=[2, 1], audio_tokens_per_example=[1, 1],
        num_layers=2, hidden_size=2, vocab_size=4, final_norm=lambda h: h, lm_head=lambda h: h)


def signals() -> tuple[TextualSignal, AcousticSignal]:
    identity = Lens(lambda h: h, lambda h: h)
    textual = TextualSignal([2, 1], logits=torch.tensor(TEACHER_LOGITS),
                            hidden=tuple(torch.tensor(h, dtype=torch.float32) for h in TEACHER_RESPONSE),
                            lens=identity)
    acoustic = AcousticSignal(tuple(torch.tensor(h, dtype=torch.float32) for h in TEACHER_AUDIO), [1, 1],
                              identity)
    return textual, acoustic


def config(**sets: object) -> RunConfig:
    base = {"sft.weight": 0.7, "textual_teacher.weight": 1.3, "textual_teacher.layers.weight": 0.2,
            "textual_teacher.layers.compare": "mse", "textual_teacher.layers.reduction": "mean",
            "acoustic_teacher.weight": 0.3, "acoustic_teacher.layers.weight": 2.0}
    base.update(sets)
    return load_config(None, [f"{k}={v}" for k, v in base.items()])


# ---- the formula, by hand -----------------------------------------------------------------------------

def softmax(row: list[float]) -> list[float]:
    z = [math.exp(v) for v in row]
    return [v / sum(z) for v in z]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def jsd(p: list[float], q: list[float]) -> float:
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def mse(a: list[float], b: list[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)


def by_hand() -> dict[str, float]:
    ce = sum(-math.log(softmax(z)[y]) for z, y in zip(STUDENT_LOGITS, TARGETS, strict=True))
    # the teacher has 5 outputs, the student 4: only the 4 shared ids are compared
    top = sum(jsd(softmax(t[:4]), softmax(s)) for s, t in zip(STUDENT_LOGITS, TEACHER_LOGITS, strict=True))
    # proportional 2 -> 4 layers: (1, 2), (2, 4); mean over the two pairs
    layer = {f"text_layer/{s}-{t}": sum(mse(a, b) for a, b in zip(STUDENT_RESPONSE[s], TEACHER_RESPONSE[t],
                                                                  strict=True))
             for s, t in ((1, 2), (2, 4))}
    ac = {f"acoustic_layer/{i}": sum(mse(a, b) for a, b in zip(STUDENT_AUDIO[i], TEACHER_AUDIO[i],
                                                                 strict=True))
          for i in (1, 2)}
    return {"sft": ce, "text_top": top, "text_layers": sum(layer.values()) / 2, "acoustic": sum(ac.values()),
            **layer, **ac}


def test_objective_equals_its_formula_on_a_hand_case():
    objective = JointObjective(config(), GEOMETRY)
    textual, acoustic = signals()
    sums = objective(student_record(), textual, acoustic)
    want = by_hand()
    assert set(sums.terms) == {"sft", "text_top", "text_layers", "acoustic"}
    for name, value in {**sums.terms, **sums.layers}.items():
        assert value.item() == pytest.approx(want[name], rel=1e-5), name
    assert (sums.tokens, sums.audio_positions) == (3, 2)

    loss = objective.loss(sums.terms, tokens=3, audio_positions=2)
    formula = (0.7 * want["sft"] / 3 + 1.3 * (want["text_top"] / 3 + 0.2 * want["text_layers"] / 3)
               + 0.3 * 2.0 * want["acoustic"] / 2)
    assert loss.item() == pytest.approx(formula, rel=1e-5)

    floats = {k: v.item() for k, v in {**sums.terms, **sums.layers}.items()}
    metrics = objective.metrics(floats, tokens=3, audio_positions=2)
    assert metrics["loss"] == pytest.approx(formula, rel=1e-5)
    assert metrics["text_top"] == pytest.approx(want["text_top"] / 3, rel=1e-5)
    assert metrics["acoustic_layer/2"] == pytest.approx(want["acoustic_layer/2"] / 2, rel=1e-5)
    assert sorted(metrics) == sorted([*objective.metric_names(), "loss"])


def test_sum_reduction_and_window_normalisation():
    objective = JointObjective(config(**{"textual_teacher.layers.reduction": "sum"}), GEOMETRY)
    textual, acoustic = signals()
    sums = objective(student_record(), textual, acoustic)
    want = by_hand()
    assert sums.terms["text_layers"].item() == pytest.approx(2 * want["text_layers"], rel=1e-5)
    # Normalising by a larger window (other micro-batches, other ranks) scales every term by its count.
    small = objective.loss(sums.terms, 3, 2).item()
    big = objective.loss(sums.terms, 30, 2).item()
    acoustic_part = 0.3 * 2.0 * want["acoustic"] / 2
    assert big - acoustic_part == pytest.approx((small - acoustic_part) / 10, rel=1e-5)


def test_gradients_reach_only_the_student():
    objective = JointObjective(config(), GEOMETRY)
    record = student_record()
    textual, acoustic = signals()
    objective.loss(objective(record, textual, acoustic).terms, 3, 2).backward()
    assert record.response_logits is not None and record.response_logits.grad is not None
    assert record.response_hidden is not None and record.audio_hidden is not None
    assert record.response_hidden[1].grad is not None and record.audio_hidden[2].grad is not None
    assert record.response_hidden[0].grad is None  # layer 0 (embeddings) is never compared
    assert textual.hidden is not None and all(h.grad is None for h in textual.hidden)


@pytest.mark.parametrize(("sets", "terms"), [
    ({}, ["sft", "text_top", "text_layers", "acoustic"]),
    ({"textual_teacher.layers.strategy": "none"}, ["sft", "text_top", "acoustic"]),
    ({"acoustic_teacher.enabled": "false"}, ["sft", "text_top", "text_layers"]),
    ({"textual_teacher.enabled": "false", "acoustic_teacher.enabled": "false"}, ["sft"]),
    ({"sft.weight": 0}, ["text_top", "text_layers", "acoustic"]),
    ({"acoustic_teacher.weight": 0, "textual_teacher.layers.weight": 0}, ["sft", "text_top"]),
])
def test_each_switch_changes_the_terms_and_metric_keys(sets, terms):
    objective = JointObjective(config(**sets), GEOMETRY)
    assert list(objective.active) == terms
    textual, acoustic = signals()
    sums = objective(student_record(), textual, acoustic)
    assert list(sums.terms) == terms
    names = objective.metric_names()
    assert [n for n in names if "/" not in n] == terms
    assert any(n.startswith("text_layer/") for n in names) == ("text_layers" in terms)
    assert any(n.startswith("acoustic_layer/") for n in names) == ("acoustic" in terms)
    wants = objective.student_wants
    assert wants == {"want_logits": "sft" in terms or "text_top" in terms,
                     "want_hidden": "text_layers" in terms, "want_audio_hidden": "acoustic" in terms}


def test_logit_lens_layer_terms_by_hand():
    head = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])  # hidden 2 -> 4 logits
    lens = Lens(lambda h: h * 2.0, lambda h: h @ head.T)
    objective = JointObjective(config(**{"textual_teacher.layers.compare": "logit_lens",
                                         "textual_teacher.layers.strategy": "top",
                                         "acoustic_teacher.enabled": "false", "sft.weight": 0}),
                               Geometry(2, 2, 4, 4, 2, 4))
    record = student_record()
    record.final_norm, record.lm_head = lens.final_norm, lens.lm_head
    textual, _ = signals()
    textual.logits = textual.logits[:, :4] if textual.logits is not None else None
    textual.lens = lens
    sums = objective(record, textual)

    def lensed(h: list[float]) -> list[float]:
        return [sum(2.0 * a * w for a, w in zip(h, row, strict=True)) for row in head.tolist()]

    want = sum(jsd(softmax(lensed(t)), softmax(lensed(s)))
               for s, t in zip(STUDENT_RESPONSE[2], TEACHER_RESPONSE[4], strict=True))
    assert sums.layers["text_layer/2-4"].item() == pytest.approx(want, rel=1e-5)
    assert sums.terms["text_layers"].item() == pytest.approx(want, rel=1e-5)  # one pair: mean = itself


def test_topk_teacher_signal_is_used_when_dense_logits_are_absent():
    objective = JointObjective(config(**{"textual_teacher.layers.strategy": "none",
                                         "acoustic_teacher.enabled": "false", "textual_teacher.tail":
                                         "renormalise"}), GEOMETRY)
    # top-4 of 4 shared ids, renormalised: exactly the dense JSD over the shared vocabulary
    logprobs = torch.log_softmax(torch.tensor(TEACHER_LOGITS)[:, :4], -1)
    top = logprobs.topk(4, dim=-1)
    textual = TextualSignal([2, 1], topk_ids=top.indices, topk_logprobs=top.values)
    sums = objective(student_record(), textual)
    assert sums.terms["text_top"].item() == pytest.approx(by_hand()["text_top"], rel=1e-5)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="every term"):
        JointObjective(config(**{"sft.weight": 0, "textual_teacher.enabled": "false",
                                 "acoustic_teacher.enabled": "false"}), GEOMETRY)
    wide = Geometry(2, 2, 4, 4, 3, 5)
    with pytest.raises(ConfigError, match=r"textual_teacher\.layers\.compare: mse needs equal hidden widths"):
        JointObjective(config(), wide)
    projected = JointObjective(config(**{"textual_teacher.layers.compare": "projected_mse"}), wide)
    assert projected.text_projections is not None and projected.text_projections.teacher_width == 3
    with pytest.raises(ConfigError, match="mask_token_ids"):
        JointObjective(config(**{"textual_teacher.mask_token_ids": "[7]"}), GEOMETRY)
