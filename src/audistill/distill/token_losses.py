"""Per-token divergences from logits: dense teacher, or a teacher's top-k, chunked and in fp32.

Conventions (one place, used by every caller):

- Temperature T: both sides' logits are divided by T before the softmax and the divergence is
  multiplied by T^2 (Hinton et al. 2015), which keeps gradient magnitudes comparable across T
  (config: textual_teacher.temperature). TRL's GKD divides by T but does not rescale, so compare
  with TRL at T != 1 by dividing our values by T^2.
- Vocabulary: only ids [0, V) are compared, V = spec.vocab_size or, when unset, the narrower
  side's width (Qwen checkpoints pad their embeddings, e.g. 151936 vs 152064 rows; the padded
  ids are never real tokens). `spec.mask_ids` are removed as well, and both distributions are
  renormalised over the kept ids.
- Top-k teacher: `teacher_ids` [T, k] and `teacher_logprobs` [T, k] are log-probabilities of the
  tempered teacher, log softmax(z_T / T) over the kept vocabulary (`teacher_topk` makes them; a
  cache stores them). The mass outside the top-k is either renormalised away (both sides are
  restricted to the k ids) or kept as one tail bucket (category k + 1: the teacher's
  1 - sum(top-k), the student's mass on every other kept id). The teacher's tail is known only
  to fp32 rounding, so it is floored at fp32 epsilon; where the top-k holds every kept id there
  is no tail. Mask ids outside a teacher's top-k cannot be told apart from the rest of its tail.
- Output: one loss per target token, [T], fp32, unreduced. Training sums these and divides by
  the number of target tokens in the whole accumulation window across ranks.
- Gradients reach the student logits only; teacher inputs are detached.

Memory: autograd would keep several fp32 [T, V] tensors per loss until backward. Instead, the
student gradient is computed chunk by chunk during the forward pass (the chunk's forward and
backward run back to back, so only [chunk, V] temporaries exist at once) and kept as one tensor
shaped like the logits; backward scales it by the incoming per-token gradient. Measured on CPU
(one thread, JSD, forward + backward, T = 512, V = 151936): 3.6 s and 0.1 GB beyond the logits
and their gradient, against 7.3 s / 2.1 GB for plain autograd over all tokens and 13.1 s / 3.9 GB
for TRL's `generalized_jsd_loss`. Checkpointing each chunk instead was slower (an extra forward)
and used more memory than this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from audistill.distill.divergences import DEFAULT_PARAMS, Divergence, DivergenceParams, get_divergence
from audistill.runtime import l2_cache_bytes

if TYPE_CHECKING:
    from audistill.config import TextualTeacherConfig

Tail = Literal["renormalise", "bucket"]

# Stands in for log(0): exp() of it is exactly 0 in fp32, yet sums and differences of it stay
# finite, so masked ids and empty tails never produce inf - inf or NaN gradients.
LOG_ZERO = -1e30
TAIL_FLOOR = float(torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class DivergenceSpec:
    """Which divergence, and how logits become the distributions it compares."""

    name: str = "jsd"
    params: DivergenceParams = DEFAULT_PARAMS
    temperature: float = 1.0
    tail: Tail = "bucket"  # top-k teacher only: "renormalise" or "bucket"
    vocab_size: int | None = None  # compare ids [0, vocab_size); None = the narrower side's width
    mask_ids: tuple[int, ...] = field(default_factory=tuple)  # ids left out of every comparison
    chunk_size: int | None = None  # target tokens per chunk; None = `auto_chunk_size`

    def __post_init__(self) -> None:
        get_divergence(self.name)
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.tail not in ("renormalise", "bucket"):
            raise ValueError(f"tail must be 'renormalise' or 'bucket', got {self.tail!r}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")
        if any(i < 0 for i in self.mask_ids):
            raise ValueError(f"mask_ids must be token ids >= 0, got {list(self.mask_ids)}")

    @property
    def divergence(self) -> Divergence:
        return get_divergence(self.name)

    @classmethod
    def from_config(cls, teacher: TextualTeacherConfig, vocab_size: int | None = None,
                    path: str = "textual_teacher") -> DivergenceSpec:
        """The spec a run's textual-teacher section describes; errors name the config path."""
        from audistill.config import ConfigError

        try:
            get_divergence(teacher.divergence)
        except ValueError as exc:
            raise ConfigError(f"{path}.divergence: {exc}") from None
        return cls(name=teacher.divergence,
                   params=DivergenceParams(beta=teacher.beta, skew_lambda=teacher.skew_lambda),
                   temperature=teacher.temperature, tail=teacher.tail, vocab_size=vocab_size,
                   mask_ids=tuple(teacher.mask_token_ids), chunk_size=teacher.chunk_size)


DEFAULT_SPEC = DivergenceSpec()

# Vocabulary entries per chunk when the chunk size is automatic. On CPU a chunk's dozen passes over its
# [chunk, V] fp32 buffers run fastest when one buffer fills the core's L2 cache: larger ones spill to L3
# on every pass, smaller ones pay the per-chunk overhead more often. Measured (one core, CE + dense JSD
# with gradient, 243 tokens x 5376 ids): with a 1 MiB L2, 32 ms at 2^18 entries (1 MiB), 36 ms at 2^17,
# 55 ms at 2^20 or 2^22; with a 512 KiB L2 (2026-11-30), 16.8 ms at 2^17 (512 KiB), 25.2 ms at 2^18,
# 18.5 ms at 2^16, 43.8 ms at 2^19 (medians of 12 interleaved rounds). Results do not depend on the chunk
# (each row is computed alone: same bits at 2^16, 2^17 and 2^18). GPU caching allocators have no such
# cliff, and larger chunks mean fewer kernel launches.
CPU_CHUNK_ELEMENTS_UNKNOWN_L2 = 1 << 18  # where the L2 size cannot be read
GPU_CHUNK_ELEMENTS = 1 << 25  # 128 MiB per fp32 [chunk, V] buffer


def cpu_chunk_elements() -> int:
    """fp32 entries of one L2 cache (`runtime.l2_cache_bytes`), or 2^18 where its size is not known."""
    l2 = l2_cache_bytes()
    return max(1 << 12, l2 // 4) if l2 else CPU_CHUNK_ELEMENTS_UNKNOWN_L2


def auto_chunk_size(chunk_size: int | None, vocab: int, device: torch.device,
                    cpu_elements: int | None = None) -> int:
    """`chunk_size` if set, else as many tokens as fit the device's per-buffer element budget
    (`cpu_elements` on CPU, default one L2 cache of fp32: `cpu_chunk_elements`)."""
    if chunk_size is not None:
        return chunk_size
    if device.type == "cpu":
        budget = cpu_elements if cpu_elements is not None else cpu_chunk_elements()
    else:
        budget = GPU_CHUNK_ELEMENTS
    return max(1, budget // max(vocab, 1))


def dense_divergence(student_logits: Tensor, teacher_logits: Tensor,
                     spec: DivergenceSpec = DEFAULT_SPEC) -> Tensor:
    """Per-token T^2 * D(softmax(z_T / T) || softmax(z_S / T)) over the shared kept vocabulary.

    student_logits [T, V_S] (any float dtype, may require grad), teacher_logits [T, V_T].
    Returns [T] fp32.
    """
    _check_rows(student_logits, teacher_logits, "teacher_logits")
    vocab = _shared_vocab(spec, student_logits.shape[1], teacher_logits.shape[1])
    mask = _mask_tensor(spec, vocab, student_logits.device)
    teacher = teacher_logits.detach()

    def rows(z: Tensor, sl: slice) -> Tensor:
        return _dense_rows(z, teacher[sl], spec, vocab, mask)

    return _chunked(student_logits, rows, auto_chunk_size(spec.chunk_size, vocab, student_logits.device))


def dense_divergence_rows(student_logits: Tensor, teacher_logits: Tensor,
                          spec: DivergenceSpec = DEFAULT_SPEC) -> Tensor:
    """`dense_divergence` on one chunk with plain autograd, for callers that chunk and
    checkpoint themselves (the logit lens). Keeps [rows, V] fp32 tensors alive until backward."""
    _check_rows(student_logits, teacher_logits, "teacher_logits")
    vocab = _shared_vocab(spec, student_logits.shape[1], teacher_logits.shape[1])
    mask = _mask_tensor(spec, vocab, student_logits.device)
    return _dense_rows(student_logits, teacher_logits.detach(), spec, vocab, mask)


def topk_divergence(student_logits: Tensor, teacher_ids: Tensor, teacher_logprobs: Tensor,
                    spec: DivergenceSpec = DEFAULT_SPEC) -> Tensor:
    """Per-token T^2 * D(teacher top-k || student) with the tail handled per `spec.tail`.

    student_logits [T, V_S]; teacher_ids [T, k] (integer ids < the compared vocabulary);
    teacher_logprobs [T, k]: tempered teacher log-probabilities (see the module notes).
    Returns [T] fp32.
    """
    _check_rows(student_logits, teacher_ids, "teacher_ids")
    if teacher_ids.shape != teacher_logprobs.shape:
        raise ValueError(f"teacher_ids {tuple(teacher_ids.shape)} and teacher_logprobs "
                         f"{tuple(teacher_logprobs.shape)} must have the same shape")
    if teacher_ids.dtype.is_floating_point or teacher_ids.dtype == torch.bool:
        raise ValueError(f"teacher_ids must be integer token ids, got {teacher_ids.dtype}")
    vocab = _shared_vocab(spec, student_logits.shape[1], student_logits.shape[1])
    if teacher_ids.numel() and (int(teacher_ids.max()) >= vocab or int(teacher_ids.min()) < 0):
        raise ValueError(f"teacher top-k ids must lie in [0, {vocab}) (the compared vocabulary); "
                         f"got ids from {int(teacher_ids.min())} to {int(teacher_ids.max())}")
    mask = _mask_tensor(spec, vocab, student_logits.device)
    ids = teacher_ids.detach().long()
    logprobs = teacher_logprobs.detach()

    def rows(z: Tensor, sl: slice) -> Tensor:
        return _topk_rows(z, ids[sl], logprobs[sl], spec, vocab, mask)

    return _chunked(student_logits, rows, auto_chunk_size(spec.chunk_size, vocab, student_logits.device))


@torch.no_grad()
def teacher_topk(teacher_logits: Tensor, k: int,
                 spec: DivergenceSpec = DEFAULT_SPEC) -> tuple[Tensor, Tensor]:
    """The teacher's k most likely kept ids per token and their tempered log-probabilities.

    Uses spec.temperature, spec.mask_ids and spec.vocab_size (None = the teacher's width; set it
    to the shared vocabulary when the student is narrower). Returns ids [T, k] int64 and
    logprobs [T, k] fp32, each row sorted from most to least likely.
    """
    if teacher_logits.dim() != 2:
        raise ValueError(f"teacher_logits must be [tokens, vocab], got {tuple(teacher_logits.shape)}")
    vocab = _shared_vocab(spec, teacher_logits.shape[1], teacher_logits.shape[1])
    mask = _mask_tensor(spec, vocab, teacher_logits.device)
    kept = vocab - (0 if mask is None else mask.numel())
    if not 1 <= k <= kept:
        raise ValueError(f"k must be in 1..{kept} (kept vocabulary), got {k}")
    ids, logprobs = [], []
    chunk = auto_chunk_size(spec.chunk_size, vocab, teacher_logits.device)
    for start in range(0, teacher_logits.shape[0], chunk):
        z = _tempered(teacher_logits[start:start + chunk], spec.temperature, vocab, mask)
        values, indices = F.log_softmax(z, dim=-1).topk(k, dim=-1)
        ids.append(indices)
        logprobs.append(values)
    if not ids:
        empty = teacher_logits.new_empty((0, k))
        return empty.long(), empty.float()
    return torch.cat(ids), torch.cat(logprobs)


# --- per-chunk maths -------------------------------------------------------------------------

def top_ids(logits: Tensor, k: int, spec: DivergenceSpec = DEFAULT_SPEC) -> Tensor:
    """The ids of the k largest logits per row among the kept vocabulary (spec.vocab_size, spec.mask_ids),
    all of it when it holds fewer than k: `teacher_topk`'s ids without its log-softmax (a positive
    temperature and the normaliser leave the order as it is)."""
    vocab = _shared_vocab(spec, logits.shape[1], logits.shape[1])
    mask = _mask_tensor(spec, vocab, logits.device)
    kept = vocab - (0 if mask is None else mask.numel())
    z = logits[:, :vocab]
    if mask is not None:
        z = z.index_fill(1, mask, float("-inf"))
    return z.topk(min(k, kept), dim=-1).indices


def _tempered(logits: Tensor, temperature: float, vocab: int, mask: Tensor | None) -> Tensor:
    z = logits[:, :vocab].float()
    if temperature != 1.0:
        z = z / temperature
    if mask is not None:
        z = z.index_fill(1, mask, LOG_ZERO)
    return z


def _dense_rows(student: Tensor, teacher: Tensor, spec: DivergenceSpec, vocab: int,
                mask: Tensor | None) -> Tensor:
    with _no_autocast(student):
        student_logp = F.log_softmax(_tempered(student, spec.temperature, vocab, mask), dim=-1)
        with torch.no_grad():
            teacher = teacher.to(student.device, non_blocking=True)  # a teacher may sit on another GPU
            teacher_logp = F.log_softmax(_tempered(teacher, spec.temperature, vocab, mask), dim=-1)
        return spec.divergence(student_logp, teacher_logp, spec.params) * spec.temperature**2


def _topk_rows(student: Tensor, ids: Tensor, logprobs: Tensor, spec: DivergenceSpec, vocab: int,
               mask: Tensor | None) -> Tensor:
    with _no_autocast(student):
        with torch.no_grad():
            ids = ids.to(student.device, non_blocking=True)
            logprobs = logprobs.to(student.device, non_blocking=True)
            teacher_top = logprobs.float().clamp_min(LOG_ZERO)
            dropped = torch.isin(ids, mask) if mask is not None else None
            if dropped is not None:
                teacher_top = teacher_top.masked_fill(dropped, LOG_ZERO)
        if spec.tail == "renormalise":
            top = student.gather(1, ids).float()
            if spec.temperature != 1.0:
                top = top / spec.temperature
            if dropped is not None:
                top = top.masked_fill(dropped, LOG_ZERO)
            student_logp = F.log_softmax(top, dim=-1)
            with torch.no_grad():
                teacher_logp = F.log_softmax(teacher_top, dim=-1)
        else:
            z = _tempered(student, spec.temperature, vocab, mask)
            total = z.logsumexp(-1, keepdim=True)
            student_top = z.gather(1, ids) - total
            # LOG_ZERO rather than -inf: a row whose top-k covers every kept id then has a finite,
            # negligible tail, and logsumexp's backward stays free of NaN.
            student_tail = z.scatter(1, ids, LOG_ZERO).logsumexp(-1, keepdim=True) - total
            student_logp = torch.cat([student_top, student_tail], dim=-1)
            with torch.no_grad():
                mass = 1.0 - logprobs.float().exp().sum(-1, keepdim=True)
                no_tail = student_tail < LOG_ZERO / 2
                teacher_tail = torch.where(no_tail, LOG_ZERO, mass.clamp_min(TAIL_FLOOR).log())
                # renormalising drops the mass of masked ids that sat in the top-k
                teacher_logp = F.log_softmax(torch.cat([teacher_top, teacher_tail], dim=-1), dim=-1)
        return spec.divergence(student_logp, teacher_logp, spec.params) * spec.temperature**2


# --- chunking and the fused backward ---------------------------------------------------------

RowLoss = Callable[[Tensor, slice], Tensor]


def _chunked(student_logits: Tensor, rows: RowLoss, chunk_size: int) -> Tensor:
    if torch.is_grad_enabled() and student_logits.requires_grad:
        out: Tensor = _ChunkedWithGrad.apply(student_logits, rows, chunk_size)
        return out
    with torch.no_grad():
        pieces = [rows(student_logits[s:s + chunk_size], slice(s, s + chunk_size))
                  for s in range(0, student_logits.shape[0], chunk_size)]
    return torch.cat(pieces) if pieces else student_logits.new_zeros(0, dtype=torch.float32)


class _ChunkedWithGrad(torch.autograd.Function):
    """Per-token losses whose student gradient is computed chunk by chunk in the forward pass.

    Row t's loss depends on row t of the logits only, so d(sum_t g_t * loss_t)/dz_t equals
    g_t * d(loss_t)/dz_t: the chunk gradients of sum(loss) are stored once and scaled by the
    incoming per-token gradient g in backward (in place: the graph cannot be replayed).
    """

    @staticmethod
    def forward(ctx: Any, student_logits: Tensor, rows: RowLoss, chunk_size: int) -> Tensor:
        n = student_logits.shape[0]
        losses = torch.empty(n, dtype=torch.float32, device=student_logits.device)
        grad = torch.zeros_like(student_logits)
        for start in range(0, n, chunk_size):
            sl = slice(start, start + chunk_size)
            chunk = student_logits[sl].detach().requires_grad_(True)
            with torch.enable_grad():
                loss = rows(chunk, sl)
                (chunk_grad,) = torch.autograd.grad(loss.sum(), chunk)
            grad[sl] = chunk_grad
            losses[sl] = loss.detach()
        ctx.save_for_backward(grad)
        ctx.used = False
        return losses

    @staticmethod
    def backward(ctx: Any, grad_losses: Tensor) -> tuple[Tensor, None, None]:
        if ctx.used:
            raise RuntimeError("chunked divergence: backward ran twice through the same loss "
                               "(retain_graph is not supported); recompute the loss instead")
        ctx.used = True
        (grad,) = ctx.saved_tensors
        return grad.mul_(grad_losses.to(grad.dtype).unsqueeze(1)), None, None


# --- checks ----------------------------------------------------------------------------------

def _check_rows(student_logits: Tensor, teacher: Tensor, teacher_name: str) -> None:
    if student_logits.dim() != 2 or teacher.dim() != 2:
        raise ValueError(f"student_logits and {teacher_name} must be 2-D [tokens, ...]; got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher.shape)}")
    if student_logits.shape[0] != teacher.shape[0]:
        raise ValueError(f"student has {student_logits.shape[0]} target tokens but the teacher has "
                         f"{teacher.shape[0]}: response tokens must line up one to one")
    if not student_logits.dtype.is_floating_point:
        raise ValueError(f"student_logits must be floating point, got {student_logits.dtype}")


def _shared_vocab(spec: DivergenceSpec, student_width: int, teacher_width: int) -> int:
    narrower = min(student_width, teacher_width)
    if spec.vocab_size is None:
        return narrower
    if spec.vocab_size > narrower:
        raise ValueError(f"vocab_size {spec.vocab_size} exceeds the logits' widths (student "
                         f"{student_width}, teacher {teacher_width})")
    return spec.vocab_size


def _mask_tensor(spec: DivergenceSpec, vocab: int, device: torch.device) -> Tensor | None:
    ids = sorted({i for i in spec.mask_ids if i < vocab})
    if not ids:
        return None
    if len(ids) >= vocab:
        raise ValueError(f"mask_ids remove every id of the {vocab}-token vocabulary")
    return torch.tensor(ids, dtype=torch.long, device=device)


def _no_autocast(reference: Tensor) -> torch.autocast:
    return torch.autocast(device_type=reference.device.type, enabled=False)

