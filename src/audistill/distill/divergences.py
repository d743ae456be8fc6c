"""Divergences between a teacher and a student distribution, registered by name.

Every registered function compares two distributions over the same support, given as
log-probabilities: `student_logp` and `teacher_logp`, both [N, K] (N positions, K categories:
the shared vocabulary, or a teacher's top-k plus an optional tail bucket), both normalised along
the last axis and finite. It returns one value per position, [N], in nats. p_T is the teacher,
p_S the student. The drivers in `token_losses` turn logits into these log-probabilities (fp32,
temperature, masking, chunking) and keep gradients to the student side only.

Conventions fixed here:

- Forward KL is KL(p_T || p_S) (mass-covering; what classic KD minimises); reverse KL is
  KL(p_S || p_T) (mode-seeking).
- Generalised JSD follows TRL's GKD (`GKDTrainer.generalized_jsd_loss`, arXiv 2306.13649 eq. 1):
  m = beta * p_T + (1 - beta) * p_S and JSD_beta = beta * KL(p_T || m) + (1 - beta) * KL(p_S || m).
  beta = 0.5 is the symmetric Jensen-Shannon divergence, bounded by ln 2. The formula itself is 0
  for every input at beta = 0 or 1, so, like TRL, the endpoints switch to the limits
  JSD_beta / beta -> KL(p_T || p_S) (beta -> 0) and JSD_beta / (1 - beta) -> KL(p_S || p_T)
  (beta -> 1), which makes beta a continuous dial from forward to reverse KL.
- Skew KL follows DistiLLM (Ko et al., ICML 2024, arXiv 2402.03898):
  SKL_lambda = KL(p_T || lambda * p_T + (1 - lambda) * p_S), and its skew reverse KL
  SRKL_lambda = KL(p_S || lambda * p_S + (1 - lambda) * p_T). lambda = 0 is plain forward
  (reverse) KL; lambda = 1 compares a distribution with itself and is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class DivergenceParams:
    """Shape parameters of the divergences that have one (ignored by the others)."""

    beta: float = 0.5  # generalised JSD: teacher weight in the mixture; 0.5 = symmetric JSD
    skew_lambda: float = 0.1  # skew KL: weight of the compared distribution in the mixture

    def __post_init__(self) -> None:
        for name, value in (("beta", self.beta), ("skew_lambda", self.skew_lambda)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


DEFAULT_PARAMS = DivergenceParams()


class Divergence(Protocol):
    def __call__(self, student_logp: Tensor, teacher_logp: Tensor,
                 params: DivergenceParams = DEFAULT_PARAMS) -> Tensor: ...


_REGISTRY: dict[str, Divergence] = {}


def register_divergence(name: str) -> Callable[[Divergence], Divergence]:
    """Decorator: make a divergence available under `name` (config: textual_teacher.divergence)."""

    def add(fn: Divergence) -> Divergence:
        if name in _REGISTRY:
            raise ValueError(f"divergence {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return add


def get_divergence(name: str) -> Divergence:
    """The divergence registered under `name`; a ValueError lists the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown divergence {name!r}; known: {', '.join(divergence_names())}") from None


def divergence_names() -> list[str]:
    return sorted(_REGISTRY)


def _kl(logp: Tensor, logq: Tensor) -> Tensor:
    """KL(p || q) per row from log-probabilities: sum_v p(v) * (log p(v) - log q(v))."""
    return (logp.exp() * (logp - logq)).sum(-1)


def _log_mixture(logp: Tensor, logq: Tensor, weight_p: float) -> Tensor:
    """log(w * p + (1 - w) * q) for 0 < w < 1, without leaving log space."""
    return torch.logaddexp(logp + math.log(weight_p), logq + math.log1p(-weight_p))


def _zero(student_logp: Tensor) -> Tensor:
    # Keeps the result attached to the student's graph so backward() still works (with zero grads).
    return (student_logp * 0.0).sum(-1)


@register_divergence("forward_kl")
def forward_kl(student_logp: Tensor, teacher_logp: Tensor,
               params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """KL(p_T || p_S) = sum_v p_T(v) * (log p_T(v) - log p_S(v)). Mass-covering."""
    return _kl(teacher_logp, student_logp)


@register_divergence("reverse_kl")
def reverse_kl(student_logp: Tensor, teacher_logp: Tensor,
               params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """KL(p_S || p_T) = sum_v p_S(v) * (log p_S(v) - log p_T(v)). Mode-seeking."""
    return _kl(student_logp, teacher_logp)


@register_divergence("jsd")
def jsd(student_logp: Tensor, teacher_logp: Tensor, params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """Generalised JSD (TRL GKD convention), m = beta * p_T + (1 - beta) * p_S:

        JSD_beta = beta * KL(p_T || m) + (1 - beta) * KL(p_S || m)

    beta = 0.5: symmetric Jensen-Shannon, 0 <= JSD <= ln 2 (ln 2 for disjoint supports).
    beta = 0: KL(p_T || p_S); beta = 1: KL(p_S || p_T) (the limits of JSD_beta / beta and
    JSD_beta / (1 - beta); the raw formula would be identically 0 there).
    """
    beta = params.beta
    if beta == 0.0:
        return _kl(teacher_logp, student_logp)
    if beta == 1.0:
        return _kl(student_logp, teacher_logp)
    log_m = _log_mixture(teacher_logp, student_logp, beta)
    return beta * _kl(teacher_logp, log_m) + (1.0 - beta) * _kl(student_logp, log_m)


@register_divergence("skew_kl")
def skew_kl(student_logp: Tensor, teacher_logp: Tensor,
            params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """Skew KL (DistiLLM, arXiv 2402.03898): KL(p_T || lambda * p_T + (1 - lambda) * p_S).

    lambda = 0: forward KL; lambda = 1: 0. Bounded by -ln(lambda) for lambda > 0, so one badly
    wrong student token cannot blow the loss up.
    """
    lam = params.skew_lambda
    if lam == 0.0:
        return _kl(teacher_logp, student_logp)
    if lam == 1.0:
        return _zero(student_logp)
    return _kl(teacher_logp, _log_mixture(teacher_logp, student_logp, lam))


@register_divergence("skew_reverse_kl")
def skew_reverse_kl(student_logp: Tensor, teacher_logp: Tensor,
                    params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """Skew reverse KL (DistiLLM): KL(p_S || lambda * p_S + (1 - lambda) * p_T).

    lambda = 0: reverse KL; lambda = 1: 0.
    """
    lam = params.skew_lambda
    if lam == 0.0:
        return _kl(student_logp, teacher_logp)
    if lam == 1.0:
        return _zero(student_logp)
    return _kl(student_logp, _log_mixture(student_logp, teacher_logp, lam))


@register_divergence("tv")
def total_variation(student_logp: Tensor, teacher_logp: Tensor,
                    params: DivergenceParams = DEFAULT_PARAMS) -> Tensor:
    """Total variation: TV = 1/2 * sum_v |p_T(v) - p_S(v)|, in [0, 1]."""
    return 0.5 * (teacher_logp.exp() - student_logp.exp()).abs().sum(-1)
