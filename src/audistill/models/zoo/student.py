"""Training the nano student: perception only (it never sees a reasoning question or trace).

Every clip of the training data (the perception set's clips and the reasoning set's train clips, whose
audio is as good a listening exercise as any) gives its perception tasks (`texts.clip_tasks`). Views
come from `audistill.views`, so prompts, audio placeholders and targets are exactly what evaluation,
textualization and distillation build; each clip's log-mel features are computed once.

Phase `encoder`: the encoder and a linear CTC head learn the clip's acoustic units. Phase `joint`: the
whole model learns every task's target (cross-entropy), the CTC term kept as an auxiliary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from audistill.data.example import Example
from audistill.models.adaptor import AudioStudentAdaptor
from audistill.models.batch import IGNORE_INDEX
from audistill.models.zoo.config import ZooConfig
from audistill.models.zoo.encode import AudioStates, ctc_loss, encode_audio, student_hidden
from audistill.models.zoo.loop import PhaseStats, length_batches, target_loss, train_phase
from audistill.models.zoo.texts import StudentTask
from audistill.models.zoo.units import UnitVocabulary, acoustic_units
from audistill.views import StudentView, ViewBuilder, audio_guard, collate_students, end_of_turn


class CachedViewBuilder(ViewBuilder):
    """A ViewBuilder that computes each audio file's log-mel features once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._features: dict[str, tuple[Tensor, Tensor]] = {}

    def audio_features(self, example: Example) -> tuple[Tensor, Tensor]:
        cached = self._features.get(example.audio)
        if cached is None:
            cached = super().audio_features(example)
            self._features[example.audio] = cached
        return cached


def task_view(builder: ViewBuilder, task: StudentTask) -> StudentView:
    """The student's prompt for `task` followed by its exact target and the end-of-turn token."""
    view = builder.student_view(task.example, with_target=False, user_text=task.user_text)
    tokenizer = builder.student_tokenizer
    target = list(tokenizer(task.target, add_special_tokens=False)["input_ids"])
    target.append(end_of_turn(tokenizer)[1])
    view.labels = [IGNORE_INDEX] * len(view.input_ids) + target
    view.input_ids = view.input_ids + target
    return view


@dataclass
class AudioItem:
    """A student view (a clip's prompt, or a task's prompt and target) and the clip's unit ids."""

    view: StudentView
    units: list[int]
    clip: str = ""  # the audio file: the key of its cached encoder states


def _frames(batch_views: Sequence[StudentView]) -> tuple[Tensor, Tensor]:
    features = torch.stack([v.input_features for v in batch_views if v.input_features is not None])
    frames = torch.stack([v.feature_attention_mask for v in batch_views
                          if v.feature_attention_mask is not None]).sum(dim=1)
    if len(features) != len(batch_views):
        raise ValueError("a student view without audio features")
    return features, frames


class StudentTrainer:
    """Holds the student adaptor, its views of the training clips and the CTC head; runs both phases."""

    def __init__(self, adaptor: AudioStudentAdaptor, config: ZooConfig, system_prompt: str) -> None:
        self.adaptor = adaptor
        self.model = adaptor.hf_model
        self.config = config
        self.builder = CachedViewBuilder(adaptor.tokenizer, adaptor.audio_format, system_prompt=system_prompt)
        self.units: UnitVocabulary | None = None
        self.audio_states: dict[str, Tensor] = {}
        self.head: nn.Linear | None = None

    def prepare(self, clips: Sequence[Example], tasks: Sequence[StudentTask], progress: Any | None = None
                ) -> tuple[list[AudioItem], list[AudioItem]]:
        """Views of every clip (features computed once) and of every task."""
        self.units = UnitVocabulary.from_metas(c.meta for c in clips)
        torch.manual_seed(self.config.seed + 1)
        self.head = nn.Linear(self.config.student.encoder_dim, len(self.units)).to(self.adaptor.device)
        total = len(clips) + len(tasks)
        bar = progress.add_task("student views", total=total, losses="") if progress else None
        clip_items = []
        for clip in clips:
            clip_items.append(AudioItem(self.builder.student_view(clip, with_target=False),
                                       self.units.encode(acoustic_units(clip.meta)), clip.audio))
            if progress is not None:
                progress.advance(bar)
        task_items = []
        for task in tasks:
            units = self.units.encode(acoustic_units(task.example.meta))
            task_items.append(AudioItem(task_view(self.builder, task), units, task.example.audio))
            if progress is not None:
                progress.advance(bar)
        return clip_items, task_items

    def _ctc(self, audio: Any, units: list[list[int]]) -> Tensor:
        assert self.head is not None and self.units is not None
        return ctc_loss(self.head, audio, units, self.units.blank)

    def encoder_step(self, batch: Sequence[AudioItem]) -> dict[str, Tensor]:
        features, frames = _frames([item.view for item in batch])
        audio = encode_audio(self.model, features.to(self.adaptor.device), frames.to(self.adaptor.device))
        loss = self._ctc(audio, [item.units for item in batch])
        return {"loss": loss, "ctc": loss.detach()}

    @torch.no_grad()
    def cache_audio_states(self, clip_items: Sequence[AudioItem], batch_size: int = 64) -> None:
        """Encode every clip once with the (now frozen) encoder: the decoder phase reads these states."""
        self.model.eval()
        order = sorted(clip_items, key=lambda item: item.view.audio_tokens)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            features, frames = _frames([item.view for item in batch])
            audio = encode_audio(self.model, features.to(self.adaptor.device), frames.to(self.adaptor.device))
            for item, states, length in zip(batch, audio.states, audio.lengths.tolist(), strict=True):
                self.audio_states[item.clip] = states[:length].clone()
        self.model.train()

    def _cached_audio(self, batch: Sequence[AudioItem]) -> AudioStates:
        states = [self.audio_states[item.clip] for item in batch]
        lengths = torch.tensor([len(s) for s in states], device=self.adaptor.device)
        return AudioStates(nn.utils.rnn.pad_sequence(states, batch_first=True), lengths)

    def decoder_step(self, batch: Sequence[AudioItem]) -> dict[str, Tensor]:
        """Cross-entropy on the targets, the audio read from the cached states of the frozen encoder."""
        collated = collate_students([item.view for item in batch], self.builder.student_pad_id,
                                    self.adaptor.audio_format).to(self.adaptor.device)
        audio = self._cached_audio(batch)
        hidden = student_hidden(self.model, collated.input_ids, collated.attention_mask, audio)
        ce = target_loss(self.model.lm_head, hidden, collated.labels)
        return {"loss": ce, "ce": ce.detach()}

    def joint_step(self, batch: Sequence[AudioItem]) -> dict[str, Tensor]:
        fmt = self.adaptor.audio_format
        collated = collate_students([item.view for item in batch], self.builder.student_pad_id, fmt)
        audio_guard(collated, fmt)
        collated = collated.to(self.adaptor.device)
        assert collated.input_features is not None and collated.feature_attention_mask is not None
        audio = encode_audio(self.model, collated.input_features, collated.feature_attention_mask.sum(dim=1))
        hidden = student_hidden(self.model, collated.input_ids, collated.attention_mask, audio)
        ce = target_loss(self.model.lm_head, hidden, collated.labels)
        ctc = self._ctc(audio, [item.units for item in batch])
        return {"loss": ce + self.config.ctc_weight * ctc, "ce": ce.detach(), "ctc": ctc.detach()}

    def train(self, clip_items: Sequence[AudioItem], task_items: Sequence[AudioItem],
              progress: Any | None = None) -> list[PhaseStats]:
        cfg = self.config
        assert self.head is not None
        self.model.train()
        encoder_params = [*self.model.model.audio_tower.named_parameters(prefix="audio_tower"),
                          *self.head.named_parameters(prefix="ctc_head")]
        clip_batches = length_batches(list(clip_items), [c.view.audio_tokens for c in clip_items],
                                      cfg.encoder.batch_size, cfg.seed + 2)
        torch.manual_seed(cfg.seed + 3)
        encoder_stats = train_phase("student encoder (CTC)", cfg.encoder, encoder_params, clip_batches,
                                    self.encoder_step, progress)
        task_batches = length_batches(list(task_items), [len(t.view.input_ids) for t in task_items],
                                      cfg.joint.batch_size, cfg.seed + 4)
        torch.manual_seed(cfg.seed + 5)
        if cfg.freeze_encoder:
            self.cache_audio_states(clip_items)
            decoder_params = [(n, p) for n, p in self.model.named_parameters() if "audio_tower" not in n]
            joint_stats = train_phase("student decoder", cfg.joint, decoder_params, task_batches,
                                      self.decoder_step, progress)
        else:
            joint_params = [*self.model.named_parameters(), *self.head.named_parameters(prefix="ctc_head")]
            joint_stats = train_phase("student joint", cfg.joint, joint_params, task_batches, self.joint_step,
                                      progress)
        self.model.eval()
        return [encoder_stats, joint_stats]
