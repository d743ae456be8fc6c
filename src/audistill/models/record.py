"""The standard record every model adaptor returns for a batch; distill/ sees only this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass
class ForwardRecord:
    """What distillation needs from one forward pass of a student or teacher over a batch.

    Response positions are the positions whose next-token prediction is a target token (the
    position just before each target token), concatenated over the batch in example order, so
    row t of every response tensor belongs to target token t. Audio positions are the audio
    placeholder positions, concatenated likewise. Layers are numbered as HF hidden_states:
    index 0 is the embedding output, 1..num_layers the decoder layers (the last one before the
    final norm).
    """

    response_logits: Tensor | None  # [T, V] logits predicting each target token
    response_hidden: tuple[Tensor, ...] | None  # num_layers + 1 tensors of [T, H]
    audio_hidden: tuple[Tensor, ...] | None  # num_layers + 1 tensors of [A, H]; None for text LMs
    target_ids: Tensor  # [T] the target token ids
    tokens_per_example: list[int]  # target tokens of each example, sums to T
    audio_tokens_per_example: list[int]  # audio positions of each example (zeros for text LMs)
    num_layers: int
    hidden_size: int
    vocab_size: int
    final_norm: Callable[[Tensor], Tensor]  # the model's final norm (for the logit lens)
    lm_head: Callable[[Tensor], Tensor]  # the model's output projection (for the logit lens)
    loss_sft: Tensor | None = None  # optional: mean CE over target tokens when computed in-model
