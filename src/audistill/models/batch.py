"""The padded tensors every model adaptor reads: a text batch (teacher) and an audio batch (student).

`audistill.views` builds them from Examples; adaptors read them. Rows are right-padded for training
(left-padded only for generation). `labels` hold the target token ids at target positions and -100
everywhere else, so the response positions (those that predict a target token) are the positions t with
`labels[t + 1] != -100`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Self

import torch
from torch import Tensor

IGNORE_INDEX = -100


@dataclass
class TextBatch:
    """What a text LM reads: token ids, attention mask, labels ([B, L] each) and the example ids."""

    input_ids: Tensor  # [B, L] long
    attention_mask: Tensor  # [B, L] long, 1 = real token
    labels: Tensor  # [B, L] long, target ids at target positions, -100 elsewhere
    example_ids: list[str]

    def to(self, device: torch.device | str) -> TextBatch:
        """The same batch with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), Tensor)}
        return replace(self, **moved)

    @property
    def target_mask(self) -> Tensor:
        """[B, L] bool: positions that hold a target token."""
        return self.labels != IGNORE_INDEX

    def response_mask(self) -> Tensor:
        """[B, L-1] bool: positions whose next-token prediction is a target token."""
        return self.labels[:, 1:] != IGNORE_INDEX

    def target_counts(self) -> list[int]:
        """Target tokens of each example."""
        return [int(n) for n in self.target_mask.sum(dim=1).tolist()]

    def without_padding_mask(self) -> Self:
        """The batch with an all-ones attention mask when its rows are right-padded, else itself.

        For a causal decoder whose outputs are read at real tokens only (the teachers; the student in
        training, where no loss reads a pad, so no gradient comes from one): no real token attends to a
        later position, so the pads after a row's end change nothing before them. With an all-ones mask
        transformers builds no mask at all and SDPA runs its causal kernel (on a GPU that is what lets
        the flash kernel run, which takes no mask). Left padding (generation) would shift every real
        token's view and keeps its mask. One device sync. Meant for SDPA or eager attention, what the
        loaders give; FlashAttention-2 would instead use the mask to skip the pads.
        """
        mask = self.attention_mask
        if mask.shape[1] < 2:
            return self
        padded, right_padded = torch.stack([~mask.bool().all(), (mask[:, 1:] <= mask[:, :-1]).all()]).tolist()
        if not (padded and right_padded):
            return self
        return replace(self, attention_mask=torch.ones_like(mask))


@dataclass
class StudentBatch(TextBatch):
    """A text batch plus the audio: log-mel features and where the expanded audio tokens sit.

    `input_features` is [B, n_mels, F] (every clip padded to the feature extractor's window, as the
    Qwen processors do); `feature_attention_mask` [B, F] marks real mel frames; `audio_mask` [B, L]
    marks the audio placeholder tokens (one per encoder output frame after pooling).
    """

    input_features: Tensor | None = None  # [B, n_mels, F] float
    feature_attention_mask: Tensor | None = None  # [B, F] long
    audio_mask: Tensor | None = None  # [B, L] bool

    def audio_counts(self) -> list[int]:
        """Audio placeholder tokens of each example (zeros when the batch has no audio mask)."""
        if self.audio_mask is None:
            return [0] * len(self.example_ids)
        return [int(n) for n in self.audio_mask.sum(dim=1).tolist()]
