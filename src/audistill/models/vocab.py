"""The vocabulary student and teacher share: the ids every distribution comparison runs over.

Qwen pads its embedding matrices past the tokenizer (Qwen2.5: 152064 rows, Qwen3: 151936, Qwen2-Audio:
156032), so the two output layers have different widths. Ids below the smaller width mean the same
token on both sides (the tokenizers are checked to agree on every target, see `audistill.views`); the
rest exist on one side only. Distributions are compared over [0, shared) minus the configured masked ids
(`textual_teacher.mask_token_ids`: special tokens whose meaning differs), renormalised over what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


class VocabError(ValueError):
    """A vocabulary setting that cannot be used; the message names the config field."""


@dataclass(frozen=True)
class SharedVocab:
    """Columns of the logits that both models share.

    `kept_ids` (sorted) are the ids compared: [0, size) minus `masked_ids`. `restrict(logits)` selects
    them, so column j of a restricted tensor is token `kept_ids[j]` on both sides; a softmax over it is
    the distribution renormalised over the shared, unmasked ids.
    """

    student_size: int
    teacher_size: int
    masked_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name, value in (("student", self.student_size), ("teacher", self.teacher_size)):
            if value < 1:
                raise VocabError(f"{name} vocabulary size must be positive, got {value}")
        bad = [i for i in self.masked_ids if not 0 <= i < self.size]
        if bad:
            raise VocabError(f"textual_teacher.mask_token_ids: ids {bad} are outside the shared vocabulary "
                             f"[0, {self.size})")
        if len(set(self.masked_ids)) >= self.size:
            raise VocabError("textual_teacher.mask_token_ids: masks every shared id")

    @property
    def size(self) -> int:
        """Ids present on both sides: min(student, teacher)."""
        return min(self.student_size, self.teacher_size)

    @property
    def num_kept(self) -> int:
        return self.size - len(set(self.masked_ids))

    def kept_ids(self, device: torch.device | str | None = None) -> Tensor:
        """[num_kept] long: the compared ids, ascending."""
        keep = torch.ones(self.size, dtype=torch.bool, device=device)
        if self.masked_ids:
            keep[torch.tensor(sorted(set(self.masked_ids)), device=device)] = False
        return keep.nonzero().squeeze(1)

    def restrict(self, logits: Tensor) -> Tensor:
        """[..., V] logits of either model -> [..., num_kept] over the compared ids (a view when no mask)."""
        if logits.shape[-1] < self.size:
            raise VocabError(f"logits have {logits.shape[-1]} columns, fewer than the shared vocabulary "
                             f"({self.size})")
        shared = logits[..., : self.size]
        if not self.masked_ids:
            return shared
        return shared.index_select(-1, self.kept_ids(logits.device))

    def to_restricted(self, token_ids: Tensor) -> Tensor:
        """Original token ids -> column indices in a restricted tensor; -1 for ids not compared."""
        table = torch.full((max(self.student_size, self.teacher_size),), -1, dtype=torch.long,
                           device=token_ids.device)
        kept = self.kept_ids(token_ids.device)
        table[kept] = torch.arange(kept.numel(), device=token_ids.device)
        return table[token_ids.long()]


def shared_vocab(student_size: int, teacher_size: int, mask_token_ids: list[int] | tuple[int, ...] = ()
                 ) -> SharedVocab:
    """The shared vocabulary of a student and a teacher output layer, with `mask_token_ids` excluded."""
    return SharedVocab(student_size, teacher_size, tuple(sorted(set(mask_token_ids))))
