"""Training the nano textual teacher: description + question (+ choices) -> reasoning trace -> response.

Text only. Each reasoning train item appears with the oracle description and with the heard
description (the format the student's textualization produces), through `ViewBuilder.teacher_view`,
the very view distillation uses, so the teacher is taught exactly the prompt it will be read with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from audistill.data.example import Example
from audistill.models.adaptor import AudioFormat, TextLMAdaptor
from audistill.models.zoo.config import ZooConfig
from audistill.models.zoo.loop import PhaseStats, length_batches, target_loss, train_phase
from audistill.views import TextView, ViewBuilder, collate_texts


def teacher_views(adaptor: TextLMAdaptor, audio_format: AudioFormat, examples: Sequence[Example],
                  system_prompt: str) -> list[TextView]:
    """Teacher views (prompt + target) of examples that carry their description."""
    builder = ViewBuilder(adaptor.tokenizer, audio_format, adaptor.tokenizer, system_prompt=system_prompt)
    return [builder.teacher_view(example) for example in examples]


def train_teacher(adaptor: TextLMAdaptor, views: Sequence[TextView], config: ZooConfig,
                  progress: Any | None = None, threads: Callable[[], int] | None = None) -> PhaseStats:
    """Train the teacher with next-token cross-entropy on the target tokens of `views`.

    `threads`, asked before every step: the torch threads that step may use (the zoo lends the teacher
    the student's cores once the student is done). Its steps compute the same bits on one thread and on
    two (tested), so this changes the time, not the model.
    """
    model = adaptor.hf_model
    pad_id = adaptor.tokenizer.pad_token_id
    device = adaptor.device

    def step(batch: Sequence[TextView]) -> dict[str, Tensor]:
        if threads is not None and (wanted := threads()) != torch.get_num_threads():
            torch.set_num_threads(wanted)
        collated = collate_texts(batch, pad_id).to(device)
        hidden = model.model(input_ids=collated.input_ids, attention_mask=collated.attention_mask,
                             use_cache=False).last_hidden_state
        loss = target_loss(model.lm_head, hidden, collated.labels)
        return {"loss": loss, "ce": loss.detach()}

    phase = config.teacher_phase
    lengths = [len(v.input_ids) for v in views]
    batches = length_batches(list(views), lengths, phase.batch_size, config.seed + 6)
    torch.manual_seed(config.seed + 7)
    model.train()
    stats = train_phase("teacher", phase, list(model.named_parameters()), batches, step, progress)
    model.eval()
    return stats
