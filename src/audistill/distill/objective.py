"""The joint objective of the method (arXiv 2509.18579), term by term.

    L = w_sft * CE
      + w_txt * (D_top + w_txt_layers * R_pairs D_layer(s, t))
      + w_ac * w_ac_layers * R_layers D_acoustic(l)

with w_sft = sft.weight, w_txt = textual_teacher.weight, w_txt_layers = textual_teacher.layers.weight,
w_ac = acoustic_teacher.weight, w_ac_layers = acoustic_teacher.layers.weight (1 in the paper config,
so the acoustic term is w_ac * layer terms as the paper writes it), and R the sum or the mean over layer
pairs (`<teacher>.layers.reduction`). CE, D_top and the textual layer terms are per target token; the
acoustic terms per audio position.

`JointObjective.forward` returns, for one micro-batch, each term's SUM over its positions (target tokens,
or audio positions for the acoustic term), the per-layer sums, and the two position counts. The trainer
adds these over the accumulation window and all ranks and divides by the window's total counts (`loss`),
so every token weighs the same whatever the batch split. Metric names: `sft`, `text_top`, `text_layers`
(the layer-reduced value, before w_txt_layers), `acoustic` (before the weights), and per layer
`text_layer/<s>-<t>` and `acoustic_layer/<l>` (`acoustic_layer/<s>-<t>` when the pair is not an identity).
A term that is off (disabled, zero weight, or no layers) is never computed and has no metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from audistill.config import ConfigError
from audistill.distill.hidden import Lens, compare_layers, get_hidden_comparison
from audistill.distill.layer_maps import layer_pairs_from_config
from audistill.distill.output_losses import output_losses
from audistill.distill.projections import LayerProjections
from audistill.distill.token_losses import DivergenceSpec, top_ids
from audistill.models.vocab import VocabError, shared_vocab

if TYPE_CHECKING:
    from audistill.config import LayerDistillConfig, RunConfig
    from audistill.distill.sources import AcousticSignal, TextualSignal
    from audistill.models.record import ForwardRecord

TERMS: tuple[str, ...] = ("sft", "text_top", "text_layers", "acoustic")
Normaliser = Literal["tokens", "audio"]


@dataclass(frozen=True)
class Geometry:
    """What the objective needs to know of the models: depth, hidden width and output width."""

    student_layers: int
    student_width: int
    student_vocab: int
    teacher_layers: int | None = None
    teacher_width: int | None = None
    teacher_vocab: int | None = None


@dataclass
class TermSums:
    """One micro-batch: each active term summed over its positions (with grad), per-layer sums
    (detached), and the positions counted: target tokens and audio positions."""

    terms: dict[str, Tensor]
    layers: dict[str, Tensor] = field(default_factory=dict)
    tokens: int = 0
    audio_positions: int = 0


def _layer_name(prefix: str, student: int, teacher: int, identity_short: bool) -> str:
    if identity_short and student == teacher:
        return f"{prefix}/{student}"
    return f"{prefix}/{student}-{teacher}"


class JointObjective(nn.Module):
    """The weighted sum of the active terms; holds the learned layer projections (if any)."""

    def __init__(self, cfg: RunConfig, geometry: Geometry) -> None:
        super().__init__()
        tt, ac = cfg.textual_teacher, cfg.acoustic_teacher
        self.geometry = geometry
        on = {
            "sft": cfg.sft.weight > 0,
            "text_top": tt.enabled and tt.weight > 0,
            "acoustic": (ac.enabled and ac.weight > 0 and ac.layers.weight > 0
                         and ac.layers.strategy != "none"),
        }
        on["text_layers"] = on["text_top"] and tt.layers.strategy != "none" and tt.layers.weight > 0
        self.active: tuple[str, ...] = tuple(t for t in TERMS if on[t])
        if not self.active:
            raise ConfigError("sft.weight, textual_teacher, acoustic_teacher: every term of the objective "
                              "is off; enable at least one")
        self.weights: dict[str, float] = {
            "sft": cfg.sft.weight, "text_top": tt.weight, "text_layers": tt.weight * tt.layers.weight,
            "acoustic": ac.weight * ac.layers.weight,
        }
        self.reduction = {"text_layers": tt.layers.reduction, "acoustic": ac.layers.reduction}
        self.spec = self._spec(cfg, geometry)
        self.text_pairs: list[tuple[int, int]] = []
        self.acoustic_pairs: list[tuple[int, int]] = []
        self.text_compare, self.acoustic_compare = tt.layers.compare, ac.layers.compare
        self.lens_top_k = tt.layers.lens_top_k
        self.text_projections: LayerProjections | None = None
        self.acoustic_projections: LayerProjections | None = None
        if "text_layers" in self.active:
            if geometry.teacher_layers is None or geometry.teacher_width is None:
                raise ValueError("textual layer terms need the teacher's geometry")
            self.text_pairs = layer_pairs_from_config(tt.layers, geometry.student_layers,
                                                      geometry.teacher_layers, "textual_teacher.layers")
            self.text_projections = self._projections(tt.layers, "textual_teacher.layers", self.text_pairs,
                                                      geometry.teacher_width)
        if "acoustic" in self.active:
            self.acoustic_pairs = layer_pairs_from_config(ac.layers, geometry.student_layers,
                                                          geometry.student_layers, "acoustic_teacher.layers")
            self.acoustic_projections = self._projections(ac.layers, "acoustic_teacher.layers",
                                                          self.acoustic_pairs, geometry.student_width)

    # ---- set-up ---------------------------------------------------------------------------------------
    def _spec(self, cfg: RunConfig, geometry: Geometry) -> DivergenceSpec:
        tt = cfg.textual_teacher
        size = None
        if geometry.teacher_vocab is not None and ("text_top" in self.active):
            try:
                size = shared_vocab(geometry.student_vocab, geometry.teacher_vocab, tt.mask_token_ids).size
            except VocabError as exc:
                raise ConfigError(str(exc)) from None
        return DivergenceSpec.from_config(tt, vocab_size=size)

    def _projections(self, layers: LayerDistillConfig, path: str, pairs: list[tuple[int, int]],
                     teacher_width: int) -> LayerProjections | None:
        try:
            entry = get_hidden_comparison(layers.compare)
        except ValueError as exc:
            raise ConfigError(f"{path}.compare: {exc}") from None
        width = self.geometry.student_width
        if entry.needs_support and path != "textual_teacher.layers":
            raise ConfigError(f"{path}.compare: {layers.compare} compares over the textual teacher's top-k "
                              "tokens, which only target positions have (use logit_lens or mse)")
        if entry.needs_projection:
            return LayerProjections(pairs, width, teacher_width)
        if not entry.needs_lens and width != teacher_width:
            raise ConfigError(f"{path}.compare: {layers.compare} needs equal hidden widths, but the student "
                              f"has {width} and the teacher {teacher_width} (use projected_{layers.compare} "
                              "or logit_lens)")
        return None

    # ---- what the models must return ------------------------------------------------------------------
    @property
    def student_wants(self) -> dict[str, bool]:
        """Keyword arguments of the student adaptor's forward: only what the active terms read."""
        return {"want_logits": "sft" in self.active or "text_top" in self.active,
                "want_hidden": "text_layers" in self.active,
                "want_audio_hidden": "acoustic" in self.active}

    @property
    def textual_wants_hidden(self) -> bool:
        return "text_layers" in self.active

    @staticmethod
    def normaliser(name: str) -> Normaliser:
        """Which count a term or per-layer metric is divided by."""
        return "audio" if name == "acoustic" or name.startswith("acoustic_layer/") else "tokens"

    # ---- the terms ------------------------------------------------------------------------------------
    def forward(self, student: ForwardRecord, textual: TextualSignal | None = None,
                acoustic: AcousticSignal | None = None) -> TermSums:
        """Each active term's sum over its positions for one micro-batch."""
        out = TermSums({}, tokens=int(student.target_ids.numel()),
                       audio_positions=int(sum(student.audio_tokens_per_example)))
        if "sft" in self.active or "text_top" in self.active:
            self._output_terms(student, textual, out.terms)
        if "text_layers" in self.active:
            assert textual is not None
            if student.response_hidden is None or textual.hidden is None:
                raise ValueError("text_layers is on but student or teacher hidden states are missing")
            per_pair = compare_layers(self.text_compare, student.response_hidden, textual.hidden,
                                      self.text_pairs, projections=self.text_projections,
                                      student_lens=Lens.from_record(student), teacher_lens=textual.lens,
                                      spec=self.spec, support=self._support(textual))
            out.terms["text_layers"] = self._reduce(per_pair, "text_layers", "text_layer", out.layers, False)
        if "acoustic" in self.active:
            if acoustic is None or student.audio_hidden is None:
                raise ValueError("acoustic is on but the acoustic signal or the student's audio states "
                                 "are missing")
            if student.audio_tokens_per_example != acoustic.audio_tokens_per_example:
                raise ValueError(f"student audio positions per example {student.audio_tokens_per_example} "
                                 f"differ from the acoustic teacher's {acoustic.audio_tokens_per_example}")
            per_pair = compare_layers(self.acoustic_compare, student.audio_hidden, acoustic.hidden,
                                      self.acoustic_pairs, projections=self.acoustic_projections,
                                      student_lens=Lens.from_record(student), teacher_lens=acoustic.lens,
                                      spec=self.spec)
            out.terms["acoustic"] = self._reduce(per_pair, "acoustic", "acoustic_layer", out.layers, True)
        return out

    def _support(self, textual: TextualSignal) -> Tensor | None:
        """The ids logit_lens_topk compares at each target position: the textual teacher's top-k."""
        if not get_hidden_comparison(self.text_compare).needs_support:
            return None
        k = self.lens_top_k
        if textual.logits is not None:  # a vocabulary smaller than k is compared whole
            return top_ids(textual.logits, k, self.spec)
        if textual.topk_ids is not None and textual.topk_ids.shape[1] >= k:
            return textual.topk_ids[:, :k]
        have = None if textual.topk_ids is None else textual.topk_ids.shape[1]
        raise ValueError(f"textual_teacher.layers.lens_top_k = {k}, but the teacher signal keeps {have} "
                         "tokens per position (raise textual_teacher.top_k or lower lens_top_k)")

    @staticmethod
    def _logits(student: ForwardRecord) -> Tensor:
        if student.response_logits is None:
            raise ValueError("the student record has no response logits (want_logits=False)")
        return student.response_logits

    def _output_terms(self, student: ForwardRecord, textual: TextualSignal | None,
                      terms: dict[str, Tensor]) -> None:
        """sft and text_top from one pass over the student's logits (`output_losses`): one log-softmax
        and one stored [T, V] gradient for both."""
        logits = self._logits(student)
        sft, top = "sft" in self.active, "text_top" in self.active
        teacher: dict[str, Tensor] = {}
        if top:
            if textual is None:
                raise ValueError("text_top is on but no textual signal was given")
            if student.tokens_per_example != textual.tokens_per_example:
                raise ValueError(f"student target tokens per example {student.tokens_per_example} differ "
                                 f"from the teacher's {textual.tokens_per_example}")
            if textual.logits is not None:
                teacher["teacher_logits"] = textual.logits.to(logits.device)
            elif textual.topk_ids is not None and textual.topk_logprobs is not None:
                teacher["teacher_ids"] = textual.topk_ids.to(logits.device)
                teacher["teacher_logprobs"] = textual.topk_logprobs.to(logits.device)
            else:
                raise ValueError("the textual signal has neither dense logits nor top-k log-probabilities")
        # The loss weighs both sums by weight / (the window's target tokens): gradients in this ratio.
        ce, div = output_losses(logits, student.target_ids.to(logits.device) if sft else None,
                                spec=self.spec, weights=(self.weights["sft"] if sft else 1.0,
                                                         self.weights["text_top"] if top else 1.0),
                                **teacher)
        if ce is not None:
            terms["sft"] = ce.sum()
        if div is not None:
            terms["text_top"] = div.sum()

    def _reduce(self, per_pair: dict[tuple[int, int], Tensor], term: str, prefix: str,
                layers: dict[str, Tensor], identity_short: bool) -> Tensor:
        sums = []
        for (s, t), losses in per_pair.items():
            total = losses.sum()
            layers[_layer_name(prefix, s, t, identity_short)] = total.detach()
            sums.append(total)
        stacked = torch.stack(sums).sum()
        return stacked / len(sums) if self.reduction[term] == "mean" else stacked

    # ---- normalisation --------------------------------------------------------------------------------
    def loss(self, terms: dict[str, Tensor], tokens: float, audio_positions: float) -> Tensor:
        """sum_k weight_k * terms_k / count_k, with count = the window's target tokens (audio positions
        for the acoustic term), floored at 1."""
        counts = {"tokens": max(float(tokens), 1.0), "audio": max(float(audio_positions), 1.0)}
        parts = [self.weights[name] * value / counts[self.normaliser(name)] for name, value in terms.items()]
        return torch.stack(parts).sum()

    def metrics(self, sums: dict[str, float], tokens: float, audio_positions: float) -> dict[str, float]:
        """Per-term and per-layer means (unweighted) plus `loss`, the weighted total, from window sums."""
        counts = {"tokens": max(float(tokens), 1.0), "audio": max(float(audio_positions), 1.0)}
        values = {name: value / counts[self.normaliser(name)] for name, value in sums.items()}
        values["loss"] = sum(self.weights[name] * values[name] for name in self.active if name in values)
        return values

    def metric_names(self) -> list[str]:
        """Every per-term and per-layer metric this objective reports, in a fixed order."""
        names = list(self.active)
        names += [_layer_name("text_layer", s, t, False) for s, t in self.text_pairs]
        names += [_layer_name("acoustic_layer", s, t, True) for s, t in self.acoustic_pairs]
        return names
