"""Training views: every example tokenised once before the first step; audio features made per batch.

All views are built up front (on `train.num_workers` DataLoader workers), so a missing description, a
target the two tokenizers split differently or an over-long sequence stops the run before it starts,
with every bad example listed. Only the token ids are kept (int32, with the prompt length: the target
is the suffix); the log-mel features (about 1.5 MB per 30 s clip) are recomputed from the audio when a
batch is collated, which costs one STFT per example per step and keeps memory flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from audistill.data.example import Example
from audistill.models.batch import IGNORE_INDEX
from audistill.views import PairBatch, StudentView, TextView, ViewBuilder, ViewError, ViewPair


@dataclass(frozen=True)
class PackedView:
    """One tokenised sequence: ids, and where the target starts (labels are -100 before it)."""

    ids: np.ndarray  # int32
    prompt_length: int

    @classmethod
    def pack(cls, view: TextView) -> PackedView:
        prompt = len(view.input_ids) - len(view.target_ids)
        if view.labels != [IGNORE_INDEX] * prompt + view.input_ids[prompt:]:
            raise ViewError(f"example {view.example_id!r}: labels are not the target suffix of the sequence")
        return cls(np.asarray(view.input_ids, dtype=np.int32), prompt)

    def lists(self) -> tuple[list[int], list[int]]:
        ids = self.ids.tolist()
        return ids, [IGNORE_INDEX] * self.prompt_length + ids[self.prompt_length:]

    @property
    def target_tokens(self) -> int:
        return int(self.ids.shape[0]) - self.prompt_length


@dataclass(frozen=True)
class PackedPair:
    student: PackedView
    teacher: PackedView | None
    audio_tokens: int


class TrainingViews:
    """The training examples' views, and `collate(indices)` -> the PairBatch of those examples."""

    def __init__(self, examples: Sequence[Example], builder: ViewBuilder, *, num_workers: int = 0,
                 tick: Callable[[], None] | None = None) -> None:
        self.examples = list(examples)
        self.builder = builder
        packed: list[PackedPair | None] = [None] * len(self.examples)
        problems: list[str] = []
        for index, outcome in self._build(num_workers):
            if isinstance(outcome, str):
                problems.append(outcome)
            else:
                packed[index] = outcome
            if tick is not None:
                tick()
        if problems:
            shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more"
                                                  if len(problems) > 20 else "")
            raise ViewError(f"data.train: {len(problems)} of {len(self.examples)} example(s) cannot be "
                            f"turned into training views:\n  {shown}")
        self.pairs: list[PackedPair] = [p for p in packed if p is not None]

    def _build(self, num_workers: int) -> Iterator[tuple[int, PackedPair | str]]:
        if num_workers == 0:
            for index in range(len(self.examples)):
                yield index, self._view(index)
            return
        loader = DataLoader(range(len(self.examples)), batch_size=None, num_workers=num_workers,
                            collate_fn=self._indexed_view)
        yield from loader

    def _indexed_view(self, index: int) -> tuple[int, PackedPair | str]:
        return index, self._view(index)

    def _view(self, index: int) -> PackedPair | str:
        example = self.examples[index]
        try:
            pair = self.builder.pair(example)
            teacher = PackedView.pack(pair.teacher) if pair.teacher is not None else None
            return PackedPair(PackedView.pack(pair.student), teacher, pair.student.audio_tokens)
        except ViewError as exc:
            return str(exc)

    def __len__(self) -> int:
        return len(self.pairs)

    def target_tokens(self, indices: Sequence[int]) -> int:
        return sum(self.pairs[i].student.target_tokens for i in indices)

    def audio_positions(self, indices: Sequence[int]) -> int:
        return sum(self.pairs[i].audio_tokens for i in indices)

    def collate(self, indices: Sequence[int]) -> PairBatch:
        """The batch of `indices`, audio features recomputed, the audio guard run by the builder."""
        views = []
        for i in indices:
            packed, example = self.pairs[i], self.examples[i]
            features, frames = self.builder.audio_features(example)
            ids, labels = packed.student.lists()
            student = StudentView(example.id, ids, labels, features, frames, packed.audio_tokens)
            teacher = None
            if packed.teacher is not None:
                teacher = TextView(example.id, *packed.teacher.lists())
            views.append(ViewPair(student, teacher))
        return self.builder.collate(views)


def micro_batch_loader(views: TrainingViews, schedule: list[list[int]], num_workers: int
                       ) -> DataLoader[PairBatch]:
    """Batches of `schedule` (lists of example indices) in order, collated on `num_workers` workers."""
    return DataLoader(schedule, batch_size=None, shuffle=False, num_workers=num_workers,
                      collate_fn=views.collate, generator=torch.Generator().manual_seed(0))
