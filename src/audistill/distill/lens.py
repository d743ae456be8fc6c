"""The logit lens over any number of layer pairs in one chunked pass, its gradient taken in the forward.

For pair p = (s, t) and position n the term is
    T^2 * D(softmax(lens_T(h_T^t[n]) / T) || softmax(lens_S(h_S^s[n]) / T))
with lens = lm_head(final_norm(.)) of each model and D, T, masking from a `DivergenceSpec` (the top
layer's).

How: the student's states of every pair are stacked into one [P * N, H] matrix and put through the final
norm (autograd: it is cheap and row-wise); the teacher's states likewise, without grad. Chunks of rows of
that one matrix (so pairs share chunks and no chunk is half empty) go through the LM head, the teacher's
lens and the closed-form divergence and logit gradient G of `output_losses`; G is pushed through the head
at once: dL/dx = G W, dL/dW += G^T x, dL/db += sum G. Nothing is recomputed, so per row the student's head
costs 2HV FLOPs forward, 2HV for dL/dx and 2HV for dL/dW (only when the head trains), and the teacher's
head 2H_TV once. Checkpointing each chunk instead (the generic path below, which every head took before)
costs 8HV + 4H_TV: its backward reruns the student's head and the teacher's lens. Measured on one CPU
thread (JSD, H = 256, V = 32768, 4 pairs of 243 rows, forward + backward): 3.0 s against 6.3 s.

Memory: the weight gradient is held in fp32 from the forward to the backward ([V, H]: 2.2 GB for
Qwen2.5-Omni-7B's head), beside the [P * N, H] input gradient; no [chunk, V] tensor outlives its chunk.

Backward: the stored gradients are those of the plain sum of all rows' values. Input gradients are then
scaled row by row (exact for any incoming gradient). The weight gradient is a sum over rows, so it is
scaled by the one incoming factor when every row receives the same one, as `JointObjective.loss` gives
(every pair and position weighs w / count). Otherwise it is recomputed chunk by chunk with each row's own
factor: still exact, at the price of a second pass.

Heads other than a plain `nn.Linear` (a wrapped or custom head) take the generic path: autograd through
the lens with each chunk checkpointed (`checkpointed_lens`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from audistill.distill.output_losses import _chunk_terms, _Teacher, checkpoint_contexts, output_losses
from audistill.distill.token_losses import DivergenceSpec, _mask_tensor, _shared_vocab, auto_chunk_size

if TYPE_CHECKING:
    from audistill.distill.hidden import Lens

# Assumed LM-head width for automatic chunking when neither side reveals its own (Qwen-sized).
UNKNOWN_VOCAB = 152064


def linear_head(lens: Lens) -> nn.Linear | None:
    """The lens's LM head when it is a plain linear layer (the fused path needs its weight), else None."""
    head = lens.lm_head
    return head if type(head) is nn.Linear else None


class _Rows:
    """What every chunk needs: the teacher's stacked states and lens, the divergence and vocabulary."""

    def __init__(self, teacher_states: Tensor, teacher_lens: Lens, spec: DivergenceSpec, vocab: int,
                 mask: Tensor | None) -> None:
        self.teacher_states, self.teacher_lens = teacher_states, teacher_lens
        self.spec, self.vocab, self.mask = spec, vocab, mask

    def divergence(self, logits: Tensor, rows: slice, out: Tensor | None) -> Tensor:
        """Per-row divergence of one chunk of student logits; its gradient with respect to them is
        written into `out` ([c, V_S] fp32) when given."""
        with torch.no_grad():
            teacher = _Teacher(self.teacher_lens(self.teacher_states[rows]), None, None)
            with torch.autocast(device_type=logits.device.type, enabled=False):
                _, div = _chunk_terms(logits, None, teacher, slice(None), self.spec, self.vocab, self.mask,
                                      (0.0, 1.0), out)
        assert div is not None
        return div


def _matmul_dtype(weight: Tensor) -> torch.dtype:
    """The dtype the head's matrix products run in: autocast's when it is on (as nn.Linear would), else
    the weight's."""
    device = weight.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return weight.dtype


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


class _FusedLens(torch.autograd.Function):
    """Per-row lens divergences of stacked, normed student states; gradients computed in the forward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, rows: _Rows,
                chunk: int) -> Tensor:
        n = x.shape[0]
        dtype = _matmul_dtype(weight)
        w = weight.detach().to(dtype)
        b = bias.detach().to(dtype) if bias is not None else None
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        want_b = bias is not None and ctx.needs_input_grad[2]
        values = torch.empty(n, dtype=torch.float32, device=x.device)
        grad_x = torch.empty(x.shape, dtype=x.dtype, device=x.device) if want_x else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=x.device) if want_w else None
        grad_b = torch.zeros(weight.shape[0], dtype=torch.float32, device=x.device) if want_b else None
        want_any = want_x or want_w or want_b
        with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
            for sl in _chunks(n, chunk):
                xc = x[sl].detach().to(dtype)
                logits = F.linear(xc, w, b)
                out = torch.empty(logits.shape, dtype=torch.float32, device=x.device) if want_any else None
                values[sl] = rows.divergence(logits, sl, out)
                if out is None:
                    continue
                g = out if dtype == torch.float32 else out.to(dtype)
                if grad_x is not None:
                    grad_x[sl] = g @ w
                if grad_w is not None:
                    if dtype == torch.float32:  # addmm with out=, not addmm_: FLOP counters see it
                        torch.addmm(grad_w, g.t(), xc, out=grad_w)
                    else:
                        grad_w += g.t() @ xc
                if grad_b is not None:
                    grad_b += out.sum(0)
        ctx.save_for_backward(x, weight, bias, grad_x, grad_w, grad_b)
        ctx.rows, ctx.chunk, ctx.used = rows, chunk, False
        return values

    @staticmethod
    def backward(ctx: Any, grad_values: Tensor) -> tuple[Tensor | None, ...]:
        if ctx.used:
            raise RuntimeError("logit lens: backward ran twice through the same loss (retain_graph is not "
                               "supported); recompute the loss instead")
        ctx.used = True
        x, weight, bias, grad_x, grad_w, grad_b = ctx.saved_tensors
        g = grad_values.float()
        dx = dw = db = None
        if grad_x is not None:
            dx = grad_x.mul_(g.to(grad_x.dtype).unsqueeze(1))
        if grad_w is not None or grad_b is not None:
            if g.numel() == 0 or torch.equal(g, g[:1].expand_as(g)):
                factor = g[:1] if g.numel() else g.new_zeros(1)
                dw = grad_w.mul_(factor).to(weight.dtype) if grad_w is not None else None
                db = grad_b.mul_(factor).to(bias.dtype) if grad_b is not None else None
            else:
                dw, db = _weighted_head_grads(x, weight, bias, g, ctx.rows, ctx.chunk, grad_w is not None,
                                              grad_b is not None)
        return dx, dw, db, None, None


def _weighted_head_grads(x: Tensor, weight: Tensor, bias: Tensor | None, g: Tensor, rows: _Rows, chunk: int,
                         want_w: bool, want_b: bool) -> tuple[Tensor | None, Tensor | None]:
    """sum_r g[r] dD_r/dW (and /db), recomputed chunk by chunk: the rows' incoming gradients differ."""
    dtype = _matmul_dtype(weight)
    w = weight.detach().to(dtype)
    b = bias.detach().to(dtype) if bias is not None else None
    dw = torch.zeros(weight.shape, dtype=torch.float32, device=x.device) if want_w else None
    db = torch.zeros(weight.shape[0], dtype=torch.float32, device=x.device) if want_b else None
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        for sl in _chunks(x.shape[0], chunk):
            xc = x[sl].detach().to(dtype)
            logits = F.linear(xc, w, b)
            out = torch.empty(logits.shape, dtype=torch.float32, device=x.device)
            rows.divergence(logits, sl, out)
            out.mul_(g[sl].unsqueeze(1))
            if dw is not None:
                dw += (out if dtype == torch.float32 else out.to(dtype)).t() @ xc
            if db is not None:
                db += out.sum(0)
    return (dw.to(weight.dtype) if dw is not None else None,
            db.to(bias.dtype) if db is not None and bias is not None else None)


# The lens's chunks on CPU: each chunk multiplies every mapped layer's states with the whole LM heads and
# adds into the head's full gradient, so a chunk re-reads and rewrites [V, H] weights; fewer, larger chunks
# pay here (measured, exact lens step over SFT in `audistill bench --quick`: 2.38 to 2.59 at 2^22 entries,
# 2.63 to 2.84 at the 2^18 that suits the output losses).
LENS_CPU_CHUNK_ELEMENTS = 1 << 22


def _vocab_and_chunk(student_lens: Lens, teacher_lens: Lens, spec: DivergenceSpec,
                     device: torch.device) -> tuple[int | None, int]:
    """The compared vocabulary (None: unknown until the logits exist) and the rows per chunk, sized by the
    widest [chunk, V] buffer."""
    widths = [w for w in (student_lens.width(), teacher_lens.width()) if w is not None]
    vocab = None
    if len(widths) == 2:
        vocab = _shared_vocab(spec, widths[0], widths[1])
    budget_width = max(widths) if widths else (spec.vocab_size or UNKNOWN_VOCAB)
    return vocab, auto_chunk_size(spec.chunk_size, budget_width, device, LENS_CPU_CHUNK_ELEMENTS)


def lens_divergences(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor],
                     student_lens: Lens, teacher_lens: Lens, spec: DivergenceSpec) -> list[Tensor]:
    """Per-position logit-lens divergences [N] (fp32) of each pair (student_states[i], teacher_states[i]).

    All pairs go through one chunked pass (module notes). Gradients reach the student's states, final norm
    and LM head; the teacher's side is constant.
    """
    if len(student_states) != len(teacher_states):
        raise ValueError(f"logit_lens: {len(student_states)} student layers but {len(teacher_states)} "
                         "teacher layers")
    if not student_states:
        return []
    counts = [s.shape[0] for s in student_states]
    for i, (s, t) in enumerate(zip(student_states, teacher_states, strict=True)):
        if s.shape[0] != t.shape[0]:
            raise ValueError(f"logit_lens: {s.shape[0]} student positions but {t.shape[0]} teacher positions "
                             f"(pair {i})")
    head = linear_head(student_lens)
    if head is None:
        return [checkpointed_lens(s, t, student_lens, teacher_lens, spec)
                for s, t in zip(student_states, teacher_states, strict=True)]
    student = student_states[0] if len(student_states) == 1 else torch.cat(list(student_states))
    teacher = teacher_states[0] if len(teacher_states) == 1 else torch.cat(list(teacher_states))
    teacher = teacher.detach()
    vocab, chunk = _vocab_and_chunk(student_lens, teacher_lens, spec, student.device)
    if vocab is None:  # the teacher's head does not say its width: ask it once
        with torch.no_grad():
            probe = teacher_lens(teacher[:1])
        vocab = _shared_vocab(spec, head.out_features, probe.shape[-1])
    rows = _Rows(teacher, teacher_lens, spec, vocab, _mask_tensor(spec, vocab, student.device))
    x = student_lens.final_norm(student)
    values = _FusedLens.apply(x, head.weight, head.bias, rows, chunk)
    return list(values.split(counts))


def checkpointed_lens(student_hidden: Tensor, teacher_hidden: Tensor, student_lens: Lens, teacher_lens: Lens,
                      spec: DivergenceSpec) -> Tensor:
    """The generic path, for any lens: autograd through the lens, chunk by chunk, each chunk checkpointed
    (its backward reruns the chunk's forward), the divergence by `output_losses`."""

    def chunk_loss(student_chunk: Tensor, teacher_chunk: Tensor) -> Tensor:
        with torch.no_grad():
            teacher_logits = teacher_lens(teacher_chunk)
        _, div = output_losses(student_lens(student_chunk), teacher_logits=teacher_logits, spec=spec)
        assert div is not None
        return div

    teacher_hidden = teacher_hidden.detach()
    keep_graph = torch.is_grad_enabled()
    widths = [w for w in (spec.vocab_size, student_lens.width(), teacher_lens.width()) if w is not None]
    chunk = auto_chunk_size(spec.chunk_size, min(widths) if widths else UNKNOWN_VOCAB, student_hidden.device,
                            LENS_CPU_CHUNK_ELEMENTS)
    pieces = []
    for sl in _chunks(student_hidden.shape[0], chunk):
        if keep_graph:
            pieces.append(checkpoint(chunk_loss, student_hidden[sl], teacher_hidden[sl], use_reentrant=False,
                                     context_fn=checkpoint_contexts))
        else:
            pieces.append(chunk_loss(student_hidden[sl], teacher_hidden[sl]))
    if not pieces:
        return student_hidden.new_zeros(0, dtype=torch.float32)
    return torch.cat(pieces)
