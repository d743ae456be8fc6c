"""The logit lens restricted to the textual teacher's top-k tokens at each target position.

For pair p = (s, t), position n and support S_n (the k ids the teacher's top layer ranks highest at n)
the term is
    T^2 * D(softmax(z_T^t[n, S_n] / T) || softmax(z_S^s[n, S_n] / T)),   z = lm_head(final_norm(h))
both distributions renormalised over S_n. Only the k rows of each LM head that S_n names are multiplied,
so a pair costs 2kH FLOPs per position on each side (plus the student's backward) instead of 2VH:
with k = 32 and V = 152064, 0.02 % of the full lens. The exact lens (`logit_lens`) over the whole
vocabulary runs the head at every mapped layer and costs, at Qwen2.5-Omni-7B's proportions with 28 pairs,
1.1 to 2.1 times the SFT step (`audistill bench`).

What it keeps and what it drops: each layer is asked to rank the teacher's plausible next tokens as the
teacher's matching layer ranks them; the mass a layer puts outside those k tokens is not seen. Intermediate
lens distributions over the full vocabulary are close to flat in early layers, so most of what the full
divergence measures there is that flat tail.

How: the head rows each position names are gathered ([c, k, H], a chunk of positions at a time, all pairs
at once), multiplied with the pairs' normed states, and the divergence's gradient with respect to those k
logits is taken in closed form and pushed through the rows in the forward (`_SupportLens`). Nothing of
size [N, k, H] outlives its chunk (the chunks of one call share their row buffers), and no [N, V] tensor
exists; the head's gradient is held in fp32 from the forward to the backward, as the fused full lens
holds it, and scaled there in place (at a 152k x 3584 head that buffer is 2.2 GB: no second one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from audistill.distill.output_losses import _chunk_terms, _Teacher
from audistill.distill.token_losses import DivergenceSpec, cpu_chunk_elements

if TYPE_CHECKING:
    from audistill.distill.hidden import Lens

# Gathered head rows per chunk (positions x k x width), so that the rows are still in cache when the
# gradient goes through them. On CPU two L2 caches of fp32: measured (one core, 243 positions x 4 pairs x
# k = 32 at width 256, forward and backward), with a 1 MiB L2 2^18 to 2^20 entries ran fastest and 2^24
# took 1.8 x; with a 512 KiB L2 (2026-11-30) 24.4 ms at 2^18, 25.1 at 2^18.5, 27.3 at 2^17 and 35.0 at
# 2^20 (medians of 20 interleaved rounds). The result does not depend on the chunk (same bits from 2^16
# to 2^22: each position's rows are its own and the head's gradient is added in position order).
DEVICE_CHUNK_ELEMENTS = 2**20  # on a GPU: fewer, larger launches


def _chunk_elements(device: torch.device) -> int:
    return 2 * cpu_chunk_elements() if device.type == "cpu" else DEVICE_CHUNK_ELEMENTS


def _linear(lens: Lens, side: str) -> nn.Linear:
    head = lens.lm_head
    if type(head) is not nn.Linear:
        raise ValueError(f"logit_lens_topk: the {side}'s LM head is a {type(head).__name__}, not a plain "
                         "nn.Linear, so its rows cannot be gathered (use logit_lens)")
    return head


def _gather(weight: Tensor, support: Tensor, buffer: Tensor | None = None) -> Tensor:
    """The head rows support [c, k] names: [c, k, H] (index_select: one contiguous copy), written into the
    front of `buffer` when given, so that every chunk of a call reuses the same memory."""
    flat = support.reshape(-1)
    if buffer is None:
        return weight.detach().index_select(0, flat).view(*support.shape, weight.shape[1])
    out = buffer.view(-1, weight.shape[1])[: flat.numel()]
    torch.index_select(weight.detach(), 0, flat, out=out)
    return out.view(*support.shape, weight.shape[1])


def _row_buffer(weight: Tensor, chunk: int, k: int) -> Tensor:
    return torch.empty(chunk * k * weight.shape[1], dtype=weight.dtype, device=weight.device)


def _support_logits(x: Tensor, rows: Tensor, bias: Tensor | None, support: Tensor) -> Tensor:
    """x [c, P, H] against rows [c, k, H] -> logits [c, P, k] (fp32)."""
    logits = torch.bmm(x.to(rows.dtype), rows.transpose(1, 2)).float()
    if bias is not None:
        logits += bias.detach().float()[support].unsqueeze(1)
    return logits


class _SupportLens(torch.autograd.Function):
    """Per-(position, pair) divergences over the support. The divergence's gradient G with respect to the
    support logits is taken in closed form (`output_losses`) while the chunk's head rows are still in cache,
    and pushed through at once: dL/dx = G rows, and G^T x is added into the head's rows. Backward scales
    those by the incoming gradient: exactly, row by row, for x; for the head, by the one incoming factor
    when every row receives the same one (as `JointObjective.loss` gives), else from the kept G ([N, P, k])
    with the rows gathered again."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, teacher: Tensor,
                teacher_head: nn.Linear, support: Tensor, spec: DivergenceSpec, chunk: int) -> Tensor:
        n, pairs, k = x.shape[0], x.shape[1], support.shape[1]
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        want_b = bias is not None and ctx.needs_input_grad[2]
        values = torch.empty(n, pairs, dtype=torch.float32, device=x.device)
        grads = torch.empty(n, pairs, k, dtype=torch.float32, device=x.device)
        dx = torch.empty(x.shape, dtype=x.dtype, device=x.device) if want_x else None
        dw = torch.zeros(weight.shape, dtype=torch.float32, device=x.device) if want_w else None
        db = torch.zeros(weight.shape[0], dtype=torch.float32, device=x.device) if want_b else None
        with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
            # Freshly allocated chunks of this size come from the OS page by page; reused, they do not.
            size = min(chunk, n)
            row_buffer = _row_buffer(weight, size, k)
            teacher_buffer = _row_buffer(teacher_head.weight, size, k)
            for start in range(0, n, chunk):
                sl = slice(start, min(start + chunk, n))
                ids = support[sl]
                rows = _gather(weight, ids, row_buffer)
                xc = x[sl].detach()
                z_s = _support_logits(xc, rows, bias, ids)
                t_ids = ids.to(teacher.device)  # the teacher may live on another device
                t_rows = _gather(teacher_head.weight, t_ids, teacher_buffer)
                z_t = _support_logits(teacher[sl], t_rows, teacher_head.bias, t_ids).to(x.device)
                g = grads[sl]
                teacher_side = _Teacher(z_t.view(-1, k), None, None)
                _, div = _chunk_terms(z_s.view(-1, k), None, teacher_side, slice(None), spec, k, None,
                                      (0.0, 1.0), g.view(-1, k))
                assert div is not None
                values[sl] = div.view(-1, pairs)
                _push(g, rows, xc, ids, dx[sl] if dx is not None else None, dw, db)
        ctx.save_for_backward(x, weight, bias, support, grads, dx, dw, db)
        ctx.chunk = chunk
        ctx.used = False
        return values

    @staticmethod
    def backward(ctx: Any, grad_values: Tensor) -> tuple[Tensor | None, ...]:
        if ctx.used:
            raise RuntimeError("logit_lens_topk: backward ran twice through the same loss (retain_graph is "
                               "not supported); recompute the loss instead")
        ctx.used = True  # the kept gradients are scaled in place: they are ours and read once
        x, weight, bias, support, grads, dx, dw, db = ctx.saved_tensors
        g = grad_values.float()
        if dx is not None:
            dx = dx.mul_(g.to(dx.dtype).unsqueeze(-1))
        if dw is not None or db is not None:
            if g.numel() == 0 or torch.equal(g, g.reshape(-1)[:1].expand_as(g)):
                factor = g.reshape(-1)[:1] if g.numel() else g.new_zeros(1)
                dw = dw.mul_(factor) if dw is not None else None
                db = db.mul_(factor) if db is not None else None
            else:
                dw = torch.zeros_like(dw) if dw is not None else None
                db = torch.zeros_like(db) if db is not None else None
                with torch.no_grad():
                    for start in range(0, x.shape[0], ctx.chunk):
                        sl = slice(start, min(start + ctx.chunk, x.shape[0]))
                        scaled = grads[sl] * g[sl].unsqueeze(-1)
                        _push(scaled, _gather(weight, support[sl]), x[sl].detach(), support[sl], None, dw, db)
        return (dx, dw.to(weight.dtype) if dw is not None else None,
                db.to(bias.dtype) if db is not None and bias is not None else None,
                None, None, None, None, None)


def _push(g: Tensor, rows: Tensor, x: Tensor, ids: Tensor, dx: Tensor | None, dw: Tensor | None,
          db: Tensor | None) -> None:
    """G [c, P, k] through the support logits: into dx [c, P, H] (written) and the head's rows (added)."""
    if dx is not None:
        dx.copy_(torch.bmm(g.to(rows.dtype), rows))
    flat = ids.reshape(-1)
    if dw is not None:
        dw.index_add_(0, flat, torch.bmm(g.transpose(1, 2), x.float()).view(-1, x.shape[-1]))
    if db is not None:
        db.index_add_(0, flat, g.sum(1).view(-1))


def support_lens_divergences(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor],
                             student_lens: Lens, teacher_lens: Lens, support: Tensor,
                             spec: DivergenceSpec) -> list[Tensor]:
    """Per-position divergences [N] (fp32) of each pair over the support ids [N, k] (module notes).

    Gradients reach the student's states, final norm and LM head rows in the support; the teacher's side
    is constant. `spec` gives the divergence and temperature; its vocabulary and masks are already applied
    by whoever chose the support.
    """
    if len(student_states) != len(teacher_states):
        raise ValueError(f"logit_lens_topk: {len(student_states)} student layers but {len(teacher_states)} "
                         "teacher layers")
    if not student_states:
        return []
    n = student_states[0].shape[0]
    if support.dim() != 2 or support.shape[0] != n:
        raise ValueError(f"logit_lens_topk: support must be [positions, k] with {n} positions, got "
                         f"{tuple(support.shape)}")
    for i, (s, t) in enumerate(zip(student_states, teacher_states, strict=True)):
        if s.shape[0] != n or t.shape[0] != n:
            raise ValueError(f"logit_lens_topk: pair {i} has {s.shape[0]} student and {t.shape[0]} teacher "
                             f"positions, expected {n}")
    student_head, teacher_head = _linear(student_lens, "student"), _linear(teacher_lens, "teacher")
    for side, head in (("student", student_head), ("teacher", teacher_head)):
        if support.numel() and int(support.max()) >= head.out_features:
            raise ValueError(f"logit_lens_topk: support id {int(support.max())} is outside the {side}'s "
                             f"vocabulary of {head.out_features}")
    support = support.to(student_states[0].device).long()
    plain = replace(spec, vocab_size=None, mask_ids=())
    x = student_lens.final_norm(torch.stack(list(student_states), dim=1))  # [N, P, H_S]
    with torch.no_grad():
        teacher = teacher_lens.final_norm(torch.stack([t.detach() for t in teacher_states], dim=1))
    width = max(x.shape[-1], teacher.shape[-1])
    chunk = max(1, _chunk_elements(x.device) // max(1, support.shape[1] * width))
    values = _SupportLens.apply(x, student_head.weight, student_head.bias, teacher, teacher_head, support,
                                plain, chunk)
    return list(values.t().unbind(0))
