"""The student's output-layer terms, SFT cross-entropy and the top-layer divergence, in one pass.

Both terms read the student's logits at the target tokens. Computed apart (cross-entropy through
autograd, the divergence through `token_losses`), the student's log-softmax over the whole
vocabulary is materialised twice, and each term keeps its own [T, V] tensor until backward. Here
each chunk of logits is normalised once; the cross-entropy, the divergence and the gradient of
their weighted sum are taken from that one log-softmax, with the gradient written out in closed
form (no autograd graph over [chunk, V] tensors), and a single [T, V] gradient is kept for backward.

Same conventions as `token_losses` (temperature T with the T^2 factor, shared vocabulary, masked
ids, top-k tails); the cross-entropy is the plain one, at temperature 1 over every student output
(as F.cross_entropy over the logits). Values and gradients equal the separate computations
(tests/test_distill_output_losses.py).

Weights: `weights = (w_ce, w_div)` are the factors the caller's loss puts on the two sums. The one
stored gradient is w_ce * dCE/dz + w_div * dD/dz, so backward needs the incoming per-token gradients
to be in the ratio w_ce : w_div, as they are in `JointObjective.loss` (both terms are divided by the
same token count); anything else is refused with an error rather than silently mis-weighted.

Analytic gradients with respect to the student's log-probabilities exist for forward_kl,
reverse_kl and jsd (the paper's); any other registered divergence is differentiated by autograd on
the log-probabilities only, which still saves the second softmax.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from audistill.distill.divergences import DivergenceParams, get_divergence
from audistill.distill.token_losses import (
    DEFAULT_SPEC,
    LOG_ZERO,
    TAIL_FLOOR,
    DivergenceSpec,
    _check_rows,
    _mask_tensor,
    _no_autocast,
    _shared_vocab,
    _tempered,
    auto_chunk_size,
)

# (student_logp, teacher_logp, params, student probabilities or None) -> `GradParts`
ValueAndGrad = Callable[[Tensor, Tensor, DivergenceParams, Tensor | None], "GradParts"]

# Smallest normal fp32: probabilities below it are treated as 0 (their terms vanish either way).
_TINY = float(torch.finfo(torch.float32).tiny)


class GradParts(NamedTuple):
    """A divergence's per-row value [N] and its gradient with respect to the student log-probabilities,
    held as `scale * unscaled` ([N, K]) so that a caller which scales it again anyway folds both into one
    pass; `rowsum`: the (scaled) gradient's row sums [N] when they came for free, else None."""

    value: Tensor
    unscaled: Tensor
    scale: float
    rowsum: Tensor | None


def _weighted_rowsum(weights: Tensor, scratch: Tensor) -> Tensor:
    """sum(weights * scratch, -1), multiplying into `scratch` (the caller's temporary, overwritten).

    Measured against einsum("nk,nk->n"), which avoids the temporary but goes through a batched matmul of
    1 x K by K x 1 products: at 48 x 5,376 the einsum takes 0.4 ms a chunk, this under 0.1."""
    return scratch.mul_(weights).sum(-1)


def _forward_kl(s_logp: Tensor, t_logp: Tensor, params: DivergenceParams,
                s_probs: Tensor | None = None) -> GradParts:
    t = t_logp.exp()
    return GradParts(_weighted_rowsum(t, torch.sub(t_logp, s_logp)), t, -1.0, None)


def _reverse_kl(s_logp: Tensor, t_logp: Tensor, params: DivergenceParams,
                s_probs: Tensor | None = None) -> GradParts:
    s = s_probs if s_probs is not None else s_logp.exp()
    grad = torch.sub(s_logp, t_logp).mul_(s)
    value = grad.sum(-1)
    return GradParts(value, grad.add_(s), 1.0, None)


def _jsd(s_logp: Tensor, t_logp: Tensor, params: DivergenceParams,
         s_probs: Tensor | None = None) -> GradParts:
    # d JSD_beta / d p_S(v) = (1 - beta) * log(p_S(v) / m(v)); times p_S(v) for the log-probability. Its
    # row sum is (1 - beta) times the student half of the value, so it costs no pass of its own.
    beta = params.beta
    if beta == 0.0:
        return _forward_kl(s_logp, t_logp, params, s_probs)
    if beta == 1.0:
        return _reverse_kl(s_logp, t_logp, params, s_probs)
    s = s_probs if s_probs is not None else s_logp.exp()
    t = t_logp.exp()
    # The mixture (1 - beta) s + beta t in probability space: one lerp and one log per entry.
    log_m = torch.lerp(s, t, beta).clamp_min_(_TINY).log_()
    # Differences before sums: near agreement the divergence is a small difference of large sums.
    scratch = torch.sub(t_logp, log_m)
    teacher_part = _weighted_rowsum(t, scratch)
    student_terms = torch.sub(s_logp, log_m, out=log_m).mul_(s)  # p_S * (log p_S - log m)
    student_part = student_terms.sum(-1)
    value = beta * teacher_part + (1.0 - beta) * student_part
    return GradParts(value, student_terms, 1.0 - beta, (1.0 - beta) * student_part)


_ANALYTIC: dict[str, ValueAndGrad] = {"forward_kl": _forward_kl, "reverse_kl": _reverse_kl, "jsd": _jsd}


def _value_and_grad_parts(name: str, s_logp: Tensor, t_logp: Tensor, params: DivergenceParams,
                          s_probs: Tensor | None = None) -> GradParts:
    analytic = _ANALYTIC.get(name)
    if analytic is not None:
        return analytic(s_logp, t_logp, params, s_probs)
    leaf = s_logp.detach().requires_grad_(True)
    with torch.enable_grad():
        value = get_divergence(name)(leaf, t_logp, params)
        (grad,) = torch.autograd.grad(value.sum(), leaf)
    return GradParts(value.detach(), grad, 1.0, None)


def divergence_value_and_grad(name: str, s_logp: Tensor, t_logp: Tensor, params: DivergenceParams,
                              s_probs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-row divergence [N] and its gradient with respect to the student log-probabilities [N, K].

    `s_probs`: exp(s_logp) when the caller has it already.
    """
    parts = _value_and_grad_parts(name, s_logp, t_logp, params, s_probs)
    grad = parts.unscaled if parts.scale == 1.0 else parts.unscaled.mul_(parts.scale)
    return parts.value, grad


def _through_log_softmax(grad_logp: Tensor, probs: Tensor) -> Tensor:
    """d/dz from d/d log_softmax(z): g - p * sum(g)."""
    return grad_logp - probs * grad_logp.sum(-1, keepdim=True)


class _Teacher:
    """The teacher side of one call: dense logits, or top-k ids and log-probabilities (or nothing)."""

    def __init__(self, logits: Tensor | None, ids: Tensor | None, logprobs: Tensor | None) -> None:
        self.logits = logits.detach() if logits is not None else None
        self.ids = ids.detach().long() if ids is not None else None
        self.logprobs = logprobs.detach() if logprobs is not None else None

    @property
    def present(self) -> bool:
        return self.logits is not None or self.ids is not None


def _chunk_terms(z: Tensor, targets: Tensor | None, teacher: _Teacher, sl: slice, spec: DivergenceSpec,
                 vocab: int, mask: Tensor | None, weights: tuple[float, float], out: Tensor | None
                 ) -> tuple[Tensor | None, Tensor | None]:
    """(cross-entropy [c], divergence [c]) of one chunk; w_ce * dCE/dz + w_div * dD/dz is written into
    `out` ([c, W] fp32) when given. Gradients accumulate in `out` in place: besides it, only the
    log-probabilities and probabilities are [c, V] (the dense teacher adds its own)."""
    zf = z.float()
    temperature = spec.temperature
    zd = _tempered(zf, temperature, vocab, mask)  # a view of zf when T = 1, no mask, full width
    logp = F.log_softmax(zd, dim=-1)
    probs = logp.exp()
    same = zd.data_ptr() == zf.data_ptr() and zd.shape == zf.shape
    # A dense teacher over every output writes `out` whole in one pass (no zeroing first), taking along
    # the CE's softmax part when both share the log-softmax; the CE's one-hot part is added after.
    # `written_with`: None when the divergence adds into `out`, else the CE weight it writes along (0: no CE).
    written_with = None
    if out is not None and teacher.logits is not None and zd.shape == zf.shape and (targets is None or same):
        written_with = weights[0] if targets is not None else 0.0
    ce_in_dense = written_with is not None and targets is not None
    if out is not None and written_with is None and (targets is None or not same):
        out.zero_()
    ce = div = None
    t = None
    if targets is not None:
        t = targets[sl].to(zf.device).long().unsqueeze(1)
        ce_logp, ce_probs = (logp, probs) if same else (F.log_softmax(zf, dim=-1), None)
        ce = -ce_logp.gather(1, t).squeeze(1)
        if out is not None and not ce_in_dense:  # softmax - one-hot
            if ce_probs is not None:
                torch.mul(ce_probs, weights[0], out=out)
            else:
                out.add_(ce_logp.exp_(), alpha=weights[0])
            out.scatter_add_(1, t, torch.full_like(t, -weights[0], dtype=out.dtype))
        del ce_logp
    if teacher.present:
        # z_div = z / T and the loss carries T^2: d/dz = T * d/dz_div
        alpha = weights[1] * temperature
        target = out[:, :vocab] if out is not None else None
        if teacher.logits is not None:
            div = _dense(logp, probs, teacher.logits[sl], spec, vocab, mask, target, alpha, written_with)
        else:
            assert teacher.ids is not None and teacher.logprobs is not None
            div = _topk(zd, logp, probs, teacher.ids[sl], teacher.logprobs[sl], spec, mask, target, alpha)
        div = div * temperature**2
    if ce_in_dense:
        assert out is not None and t is not None
        out.scatter_add_(1, t, torch.full_like(t, -weights[0], dtype=out.dtype))
    return ce, div


def _dense(logp: Tensor, probs: Tensor, teacher_logits: Tensor, spec: DivergenceSpec, vocab: int,
           mask: Tensor | None, out: Tensor | None, alpha: float,
           write_with_ce: float | None = None) -> Tensor:
    """The divergence from dense teacher logits; alpha * its gradient with respect to the logits is added
    into `out`, or, with `write_with_ce` = w (CE weight, or 0 for no CE), written over it together with
    w * probs (the CE's softmax part)."""
    teacher = teacher_logits.to(logp.device, non_blocking=True)
    t_logp = F.log_softmax(_tempered(teacher, spec.temperature, vocab, mask), dim=-1)
    parts = _value_and_grad_parts(spec.name, logp, t_logp, spec.params, probs)
    if out is not None:  # d/dz = g - p * sum(g), with g = scale * unscaled
        grad, rowsum = parts.unscaled, parts.rowsum
        if mask is not None:
            grad.index_fill_(1, mask, 0.0)
            rowsum = None
        if rowsum is None:
            rowsum = grad.sum(-1).mul_(parts.scale)
        coefficient = rowsum.mul_(-alpha).unsqueeze(1)
        if write_with_ce is None:
            out.add_(grad, alpha=alpha * parts.scale).addcmul_(probs, coefficient)
        else:
            torch.mul(probs, coefficient.add_(write_with_ce), out=out).add_(grad, alpha=alpha * parts.scale)
    return parts.value


def _topk(zd: Tensor, logp: Tensor, probs: Tensor, ids: Tensor, logprobs: Tensor, spec: DivergenceSpec,
          mask: Tensor | None, out: Tensor | None, alpha: float) -> Tensor:
    ids = ids.to(logp.device, non_blocking=True)
    teacher_top = logprobs.to(logp.device, non_blocking=True).float().clamp_min(LOG_ZERO)
    dropped = torch.isin(ids, mask) if mask is not None else None
    if dropped is not None:
        teacher_top = teacher_top.masked_fill(dropped, LOG_ZERO)
    if spec.tail == "renormalise":
        top = zd.gather(1, ids)
        if dropped is not None:
            top = top.masked_fill(dropped, LOG_ZERO)
        s_logp = F.log_softmax(top, dim=-1)
        value, grad_logp = divergence_value_and_grad(spec.name, s_logp, F.log_softmax(teacher_top, dim=-1),
                                                     spec.params)
        if out is not None:
            d_top = _through_log_softmax(grad_logp, s_logp.exp())
            if dropped is not None:
                d_top = d_top.masked_fill(dropped, 0.0)
            out.scatter_add_(1, ids, d_top.mul_(alpha))
        return value
    s_top = logp.gather(1, ids)
    s_tail = _student_tail(logp, s_top, ids)
    mass = 1.0 - logprobs.to(logp.device).float().exp().sum(-1, keepdim=True)
    no_tail = s_tail < LOG_ZERO / 2
    t_tail = torch.where(no_tail, LOG_ZERO, mass.clamp_min(TAIL_FLOOR).log())
    t_logp = F.log_softmax(torch.cat([teacher_top, t_tail], dim=-1), dim=-1)
    value, grad_logp = divergence_value_and_grad(spec.name, torch.cat([s_top, s_tail], dim=-1), t_logp,
                                                 spec.params)
    if out is None:
        return value
    # lp_c = log p(id_c): d/dz_u = [u = id_c] - p_u; log tail = log sum_{u not in top} p_u:
    # d/dz_u = [u not in top] p_u / tail - p_u. So d/dz = p * (g_tail / tail - G) off the top-k and
    # g_c - p * G on it, with G the sum of all category gradients.
    g_top, g_tail = grad_logp[:, :-1], grad_logp[:, -1:]
    total = grad_logp.sum(-1, keepdim=True)
    tail_mass = s_tail.exp()
    off_top = torch.where(no_tail | (tail_mass <= 0), 0.0, g_tail / tail_mass.clamp_min(1e-38)) - total
    out.addcmul_(probs, off_top, value=alpha)
    p_top = probs.gather(1, ids)
    on_top = g_top - p_top * total - p_top * off_top  # replaces what the line above put there
    if dropped is not None:
        on_top = on_top.masked_fill(dropped, 0.0)
    out.scatter_add_(1, ids, on_top.mul_(alpha))
    return value


def _student_tail(logp: Tensor, s_top: Tensor, ids: Tensor) -> Tensor:
    """log of the student's mass outside the top-k ids, [c, 1].

    log1p(-sum of the top-k probabilities) is exact enough while the top-k hold less than half the
    mass; rows where they hold more are summed over the other ids instead (no cancellation), as
    `token_losses` does for every row.
    """
    top_mass = s_top.exp().sum(-1, keepdim=True)
    tail = torch.log1p(-top_mass.clamp_max(0.5))
    heavy = (top_mass > 0.5).squeeze(1).nonzero().squeeze(1)
    if heavy.numel():
        rows = logp.index_select(0, heavy).scatter(1, ids.index_select(0, heavy), LOG_ZERO)
        tail = tail.index_copy(0, heavy, rows.logsumexp(-1, keepdim=True))
    return tail


# Set while a non-reentrant checkpoint runs a function for the first time (`checkpoint_contexts`).
_SKIP_STORED_GRADIENT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "audistill_skip_stored_gradient", default=False)


@contextlib.contextmanager
def _first_pass() -> Iterator[None]:
    token = _SKIP_STORED_GRADIENT.set(True)
    try:
        yield
    finally:
        _SKIP_STORED_GRADIENT.reset(token)


ContextPair = tuple[contextlib.AbstractContextManager[None], contextlib.AbstractContextManager[None]]


def checkpoint_contexts() -> ContextPair:
    """`context_fn` for torch.utils.checkpoint (use_reentrant=False) around output losses.

    A non-reentrant checkpoint drops what the first forward saves and recomputes it in backward, so the
    first pass need not compute the gradient it would store: it computes the loss values only and saves
    an uninitialised tensor of the gradient's shape (which the checkpoint discards unread). The
    recomputation runs normally.
    """
    return _first_pass(), contextlib.nullcontext()


class _FusedWithGrad(torch.autograd.Function):
    """Per-token CE and divergence whose one weighted student gradient is computed in the forward pass."""

    @staticmethod
    def forward(ctx: Any, student_logits: Tensor, rows: Callable[[Tensor, slice, Tensor | None], Any],
                chunk_size: int, weights: tuple[float, float]) -> tuple[Tensor, Tensor]:
        n = student_logits.shape[0]
        ce = torch.zeros(n, dtype=torch.float32, device=student_logits.device)
        div = torch.zeros(n, dtype=torch.float32, device=student_logits.device)
        grad = torch.empty_like(student_logits)
        skip = _SKIP_STORED_GRADIENT.get()
        direct = grad.dtype == torch.float32  # else accumulate in fp32 and round once per chunk
        for start in range(0, n, chunk_size):
            sl = slice(start, start + chunk_size)
            chunk = student_logits[sl].detach()
            out = None if skip else (
                grad[sl] if direct else torch.empty(chunk.shape, dtype=torch.float32, device=chunk.device))
            c, d = rows(chunk, sl, out)
            if out is not None and not direct:
                grad[sl] = out
            if c is not None:
                ce[sl] = c
            if d is not None:
                div[sl] = d
        ctx.save_for_backward(grad)
        ctx.weights = weights
        ctx.used = False
        return ce, div

    @staticmethod
    def backward(ctx: Any, grad_ce: Tensor, grad_div: Tensor) -> tuple[Tensor | None, None, None, None]:
        if ctx.used:
            raise RuntimeError("output losses: backward ran twice through the same loss (retain_graph is not "
                               "supported); recompute the loss instead")
        ctx.used = True
        (grad,) = ctx.saved_tensors
        w_ce, w_div = ctx.weights
        if w_ce > 0:
            scale = grad_ce / w_ce
            other, w_other = grad_div, w_div
        else:
            scale = grad_div / w_div
            other, w_other = grad_ce, w_ce
        if not torch.allclose(other, scale * w_other, rtol=1e-4, atol=1e-12 * float(scale.abs().max() + 1)):
            raise RuntimeError(f"output losses: the gradients reaching the CE and divergence sums must be in "
                               f"the ratio of the weights {w_ce}:{w_div} given at the forward pass (the "
                               "stored gradient is their weighted sum); pass the weights the loss uses")
        return grad.mul_(scale.to(grad.dtype).unsqueeze(1)), None, None, None


def output_losses(
    student_logits: Tensor,
    target_ids: Tensor | None = None,
    *,
    teacher_logits: Tensor | None = None,
    teacher_ids: Tensor | None = None,
    teacher_logprobs: Tensor | None = None,
    spec: DivergenceSpec = DEFAULT_SPEC,
    weights: tuple[float, float] = (1.0, 1.0),
) -> tuple[Tensor | None, Tensor | None]:
    """Per-token cross-entropy on `target_ids` and divergence from the teacher, from one pass.

    student_logits [T, V_S]; target_ids [T] (None: no CE); the teacher as dense `teacher_logits`
    [T, V_T] or top-k `teacher_ids` / `teacher_logprobs` [T, k] (neither: no divergence).
    `weights` (w_ce, w_div): the factors the caller's loss puts on the two sums (see the module
    notes). Returns (ce [T] fp32 or None, divergence [T] fp32 or None).
    """
    if target_ids is None and teacher_logits is None and teacher_ids is None:
        raise ValueError("output_losses: nothing to compute (no target ids and no teacher)")
    if teacher_logits is not None and teacher_ids is not None:
        raise ValueError("output_losses: give the teacher as dense logits or as top-k, not both")
    if (teacher_ids is None) != (teacher_logprobs is None):
        raise ValueError("output_losses: teacher_ids and teacher_logprobs go together")
    if target_ids is not None and target_ids.shape[0] != student_logits.shape[0]:
        raise ValueError(f"student has {student_logits.shape[0]} positions but {target_ids.shape[0]} "
                         "target ids")
    teacher = _Teacher(teacher_logits, teacher_ids, teacher_logprobs)
    if teacher_logits is not None:
        _check_rows(student_logits, teacher_logits, "teacher_logits")
        vocab = _shared_vocab(spec, student_logits.shape[1], teacher_logits.shape[1])
    else:
        vocab = _shared_vocab(spec, student_logits.shape[1], student_logits.shape[1])
    if teacher_ids is not None and teacher_logprobs is not None:
        _check_rows(student_logits, teacher_ids, "teacher_ids")
        if teacher_ids.shape != teacher_logprobs.shape:
            raise ValueError(f"teacher_ids {tuple(teacher_ids.shape)} and teacher_logprobs "
                             f"{tuple(teacher_logprobs.shape)} must have the same shape")
        if teacher_ids.numel() and (int(teacher_ids.max()) >= vocab or int(teacher_ids.min()) < 0):
            raise ValueError(f"teacher top-k ids must lie in [0, {vocab}) (the compared vocabulary)")
    mask = _mask_tensor(spec, vocab, student_logits.device)
    used = (weights[0] if target_ids is not None else 0.0, weights[1] if teacher.present else 0.0)
    if (target_ids is not None and used[0] == 0) or (teacher.present and used[1] == 0):
        raise ValueError(f"output_losses: a computed term needs a positive weight, got {weights} (leave a "
                         "term out instead of weighting it 0)")

    def rows(z: Tensor, sl: slice, out: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        with _no_autocast(z), torch.no_grad():
            return _chunk_terms(z, target_ids, teacher, sl, spec, vocab, mask, used, out)

    chunk = auto_chunk_size(spec.chunk_size, student_logits.shape[1], student_logits.device)
    if torch.is_grad_enabled() and student_logits.requires_grad:
        ce, div = _FusedWithGrad.apply(student_logits, rows, chunk, used)
    else:
        ce_parts, div_parts = [], []
        for start in range(0, student_logits.shape[0], chunk):
            c, d = rows(student_logits[start:start + chunk], slice(start, start + chunk), None)
            ce_parts.append(c)
            div_parts.append(d)
        empty = student_logits.new_zeros(0, dtype=torch.float32)
        ce = torch.cat(ce_parts) if ce_parts and target_ids is not None else empty
        div = torch.cat(div_parts) if div_parts and teacher.present else empty
    return (ce if target_ids is not None else None), (div if teacher.present else None)
