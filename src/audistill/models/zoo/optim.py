"""The zoo's optimizers: AdamW on everything, or Muon on the transformer blocks' matrices, AdamW on the rest.

Muon (Jordan et al., 2024; `torch.optim.Muon` since torch 2.9) replaces each hidden matrix's momentum
update by its nearest semi-orthogonal matrix (five Newton-Schulz iterations), scaled so its RMS matches
AdamW's (0.2 * sqrt(max(rows, cols)), Moonshot's rule, torch's `adjust_lr_fn="match_rms_adamw"`), so one
learning rate serves both groups. Embeddings, the LM head, norms and biases stay on AdamW, as in every
Muon recipe. `Muon` below is torch's algorithm with one change: torch orthogonalises in bfloat16, which
a CPU without bfloat16 units (this machine's) runs so slowly that a nano model's step takes 2.5x as long;
this one iterates in the parameter's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# The quintic's coefficients from Keller Jordan's Muon (torch's defaults).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
OPTIMIZERS = ("adamw", "muon")


def orthogonalise(update: Tensor, steps: int = 5, eps: float = 1e-7) -> Tensor:
    """Approximately U V^T of `update` = U S V^T: singular values pushed into about [0.7, 1.2]."""
    a, b, c = NS_COEFFICIENTS
    x = update / (update.norm() + eps)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Nesterov momentum, orthogonalised, RMS-matched to AdamW, decoupled weight decay; matrices only."""

    def __init__(self, params: Sequence[Tensor], lr: float, weight_decay: float = 0.01,
                 momentum: float = 0.95, ns_steps: int = 5) -> None:
        for p in params:
            if p.ndim != 2:
                raise ValueError(f"Muon takes matrices only; got a parameter of shape {tuple(p.shape)}")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                                  "ns_steps": ns_steps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            lr, beta = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buffer = state["momentum_buffer"]
                buffer.lerp_(p.grad, 1 - beta)
                update = orthogonalise(p.grad.lerp(buffer, beta), group["ns_steps"])
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * 0.2 * max(p.shape) ** 0.5)


def is_hidden_matrix(name: str, parameter: Tensor) -> bool:
    """A matrix inside a transformer block (attention or MLP weight): what Muon trains."""
    return parameter.ndim == 2 and ".layers." in f".{name}"


def build_optimizers(named: Sequence[tuple[str, torch.nn.Parameter]], kind: str, lr: float,
                     weight_decay: float) -> list[torch.optim.Optimizer]:
    """AdamW on all of `named`, or Muon on its hidden matrices and AdamW on the rest (same peak lr)."""
    trainable = [(n, p) for n, p in named if p.requires_grad]
    if kind not in OPTIMIZERS:
        raise ValueError(f"zoo optimizer {kind!r}: choose one of {', '.join(OPTIMIZERS)}")

    def adamw(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=weight_decay)

    if kind == "adamw":
        return [adamw([p for _, p in trainable])]
    matrices = [p for n, p in trainable if is_hidden_matrix(n, p)]
    rest = [p for n, p in trainable if not is_hidden_matrix(n, p)]
    optimizers: list[torch.optim.Optimizer] = []
    if matrices:
        optimizers.append(Muon(matrices, lr=lr, weight_decay=weight_decay))
    return optimizers + ([adamw(rest)] if rest else [])
