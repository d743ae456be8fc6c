"""Hidden-state comparisons between a student layer and a teacher layer, registered by name.

Each comparison takes student hidden states [N, H_S] and teacher hidden states [N, H_T] at the
same N positions (response tokens for the textual teacher, audio tokens for the acoustic one)
and returns one loss per position, [N], fp32, unreduced (training sums and normalises by the
token count of the accumulation window). Teacher states are detached: gradients reach the
student (and the projections) only.

- mse: mean over hidden units of (h_S - h_T)^2 (equal widths). The mean, not the sum, keeps the
  scale independent of the width.
- cosine: 1 - cos(h_S, h_T) (equal widths), in [0, 2].
- projected_mse / projected_cosine: the same after a learned linear map W h_S + b from student to
  teacher width (`LayerProjections`, one per layer pair).
- logit_lens: each side's state through its own final norm and LM head, then a registered
  divergence (a `DivergenceSpec`: the top layer's, same temperature and masking) over the shared
  vocabulary. All layer pairs share one chunked pass whose gradients are taken in the forward
  (`audistill.distill.lens`): only [chunk, V] tensors ever exist, never [N, V] per layer, and
  nothing is recomputed in backward.
- logit_lens_topk: the same lens and divergence over only the textual teacher's top-k tokens of each
  position (its top layer's), both sides renormalised there (`audistill.distill.support_lens`): 2kH
  instead of 2VH FLOPs per pair and position. Textual layers only; the default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from audistill.distill.lens import lens_divergences
from audistill.distill.projections import LayerProjections
from audistill.distill.support_lens import support_lens_divergences
from audistill.distill.token_losses import DEFAULT_SPEC, DivergenceSpec

if TYPE_CHECKING:
    from audistill.models.record import ForwardRecord


@dataclass(frozen=True)
class Lens:
    """A model's final norm followed by its LM head: hidden state -> logits."""

    final_norm: Callable[[Tensor], Tensor]
    lm_head: Callable[[Tensor], Tensor]
    vocab_size: int | None = None  # width of lm_head's output; sizes automatic chunks

    def __call__(self, hidden: Tensor) -> Tensor:
        return self.lm_head(self.final_norm(hidden))

    @classmethod
    def from_record(cls, record: ForwardRecord) -> Lens:
        return cls(record.final_norm, record.lm_head, record.vocab_size)

    def width(self) -> int | None:
        if self.vocab_size is not None:
            return self.vocab_size
        weight = getattr(self.lm_head, "weight", None)
        return int(weight.shape[0]) if isinstance(weight, Tensor) else None


@dataclass(frozen=True)
class LayerContext:
    """What a comparison may need beyond the two states; each comparison reads its own part."""

    student_layer: int = 0
    teacher_layer: int = 0
    projections: LayerProjections | None = None  # projected_*
    student_lens: Lens | None = None  # logit_lens
    teacher_lens: Lens | None = None  # logit_lens
    spec: DivergenceSpec = DEFAULT_SPEC  # logit_lens: divergence, temperature, masking, chunk size
    support: Tensor | None = None  # logit_lens_topk: the teacher's top-k ids per position, [N, k]


class HiddenComparison(Protocol):
    def __call__(self, student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext) -> Tensor: ...


class AllPairsComparison(Protocol):
    """Every layer pair at once: the pairs' student and teacher states in pair order -> per-pair losses."""

    def __call__(self, student_states: list[Tensor], teacher_states: list[Tensor], ctx: LayerContext
                 ) -> list[Tensor]: ...


@dataclass(frozen=True)
class HiddenComparisonEntry:
    name: str
    fn: HiddenComparison
    needs_projection: bool  # build a LayerProjections for the layer pairs
    needs_lens: bool  # pass both models' final norm and LM head
    needs_support: bool = False  # pass the textual teacher's top-k ids per position
    # Computes all pairs in one pass (shared work across layers, e.g. one sweep over the LM heads);
    # must equal `fn` applied pair by pair.
    all_pairs: AllPairsComparison | None = None


_REGISTRY: dict[str, HiddenComparisonEntry] = {}

def register_hidden_comparison(name: str, *, needs_projection: bool = False, needs_lens: bool = False,
                               needs_support: bool = False, all_pairs: AllPairsComparison | None = None
                               ) -> Callable[[HiddenComparison], HiddenComparison]:
    """Decorator: make a comparison available under `name` (config: `<teacher>.layers.compare`).

    `all_pairs`: an equivalent form that takes every layer pair at once, which `compare_layers` uses."""

    def add(fn: HiddenComparison) -> HiddenComparison:
        if name in _REGISTRY:
            raise ValueError(f"hidden comparison {name!r} is already registered")
        _REGISTRY[name] = HiddenComparisonEntry(name, fn, needs_projection, needs_lens, needs_support,
                                                all_pairs)
        return fn

    return add


def get_hidden_comparison(name: str) -> HiddenComparisonEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown hidden comparison {name!r}; known: "
                         f"{', '.join(hidden_comparison_names())}") from None


def hidden_comparison_names() -> list[str]:
    return sorted(_REGISTRY)


def _same_shape(student: Tensor, teacher: Tensor, name: str) -> None:
    if student.shape != teacher.shape:
        raise ValueError(f"{name}: student states {tuple(student.shape)} and teacher states "
                         f"{tuple(teacher.shape)} differ in shape (different widths need "
                         f"projected_{name} or logit_lens)")


def _teacher(teacher_hidden: Tensor, student_hidden: Tensor) -> Tensor:
    """The teacher's states as a constant fp32 tensor on the student's device."""
    return teacher_hidden.detach().to(student_hidden.device, torch.float32, non_blocking=True)


@register_hidden_comparison("mse")
def mse(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext = LayerContext()) -> Tensor:
    """Per position: mean_j (h_S[j] - h_T[j])^2."""
    _same_shape(student_hidden, teacher_hidden, "mse")
    return (student_hidden.float() - _teacher(teacher_hidden, student_hidden)).pow(2).mean(-1)


@register_hidden_comparison("cosine")
def cosine(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext = LayerContext()) -> Tensor:
    """Per position: 1 - <h_S, h_T> / (|h_S| |h_T|)."""
    _same_shape(student_hidden, teacher_hidden, "cosine")
    return 1.0 - F.cosine_similarity(student_hidden.float(), _teacher(teacher_hidden, student_hidden), dim=-1)


def _project(student_hidden: Tensor, ctx: LayerContext, name: str) -> Tensor:
    if ctx.projections is None:
        raise ValueError(f"{name}: needs LayerProjections (ctx.projections) for the layer pairs")
    return ctx.projections(student_hidden, ctx.student_layer, ctx.teacher_layer)


@register_hidden_comparison("projected_mse", needs_projection=True)
def projected_mse(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext) -> Tensor:
    """Per position: mean_j ((W h_S + b)[j] - h_T[j])^2."""
    return mse(_project(student_hidden, ctx, "projected_mse"), teacher_hidden)


@register_hidden_comparison("projected_cosine", needs_projection=True)
def projected_cosine(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext) -> Tensor:
    """Per position: 1 - cos(W h_S + b, h_T)."""
    return cosine(_project(student_hidden, ctx, "projected_cosine"), teacher_hidden)


def _lenses(ctx: LayerContext) -> tuple[Lens, Lens]:
    if ctx.student_lens is None or ctx.teacher_lens is None:
        raise ValueError("logit_lens: needs both models' final norm and LM head "
                         "(ctx.student_lens, ctx.teacher_lens)")
    return ctx.student_lens, ctx.teacher_lens


def _lens_all_pairs(student_states: list[Tensor], teacher_states: list[Tensor], ctx: LayerContext
                    ) -> list[Tensor]:
    """Every pair in one chunked pass over the LM heads."""
    return lens_divergences(student_states, teacher_states, *_lenses(ctx), ctx.spec)


def _support_all_pairs(student_states: list[Tensor], teacher_states: list[Tensor], ctx: LayerContext
                       ) -> list[Tensor]:
    """Every pair in one chunked pass over the support's head rows."""
    if ctx.support is None:
        raise ValueError("logit_lens_topk: needs the textual teacher's top-k ids per position (ctx.support)")
    return support_lens_divergences(student_states, teacher_states, *_lenses(ctx), ctx.support, ctx.spec)


@register_hidden_comparison("logit_lens", needs_lens=True, all_pairs=_lens_all_pairs)
def logit_lens(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext) -> Tensor:
    """Per position: T^2 * D(softmax(lens_T(h_T) / T) || softmax(lens_S(h_S) / T)), with
    lens = lm_head(final_norm(.)) of each model and D, T, masking from ctx.spec (`lens.lens_divergences`)."""
    (values,) = _lens_all_pairs([student_hidden], [teacher_hidden], ctx)
    return values


@register_hidden_comparison("logit_lens_topk", needs_lens=True, needs_support=True,
                            all_pairs=_support_all_pairs)
def logit_lens_topk(student_hidden: Tensor, teacher_hidden: Tensor, ctx: LayerContext) -> Tensor:
    """Per position: the logit lens divergence over the teacher's top-k ids `ctx.support` only, both
    distributions renormalised there (`support_lens.support_lens_divergences`)."""
    (values,) = _support_all_pairs([student_hidden], [teacher_hidden], ctx)
    return values


def compare_layers(name: str, student_states: Sequence[Tensor], teacher_states: Sequence[Tensor],
                   pairs: Sequence[tuple[int, int]], *, projections: LayerProjections | None = None,
                   student_lens: Lens | None = None, teacher_lens: Lens | None = None,
                   spec: DivergenceSpec = DEFAULT_SPEC,
                   support: Tensor | None = None) -> dict[tuple[int, int], Tensor]:
    """Per-position losses [N] of comparison `name` for every (student layer, teacher layer) pair.

    student_states / teacher_states are indexed by layer number as HF hidden_states (index 0 =
    embeddings), e.g. ForwardRecord.response_hidden or .audio_hidden.
    """
    entry = get_hidden_comparison(name)
    for s, t in pairs:
        for side, layer, states in (("student", s, student_states), ("teacher", t, teacher_states)):
            if not 1 <= layer < len(states):
                raise ValueError(f"{name}: {side} layer {layer} out of range 1..{len(states) - 1}")
    if entry.all_pairs is not None:
        shared = LayerContext(projections=projections, student_lens=student_lens, teacher_lens=teacher_lens,
                              spec=spec, support=support)
        values = entry.all_pairs([student_states[s] for s, _ in pairs], [teacher_states[t] for _, t in pairs],
                                 shared)
        return dict(zip(pairs, values, strict=True))
    results: dict[tuple[int, int], Tensor] = {}
    for s, t in pairs:
        ctx = LayerContext(s, t, projections, student_lens, teacher_lens, spec, support)
        results[(s, t)] = entry.fn(student_states[s], teacher_states[t], ctx)
    return results
