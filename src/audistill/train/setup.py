"""Everything a run needs before its first step: student, teachers as signal sources, objective, views.

Order matters for the acoustic teacher: `form: copy` snapshots the student right after loading, before
gradient checkpointing is switched on and before any checkpoint of a resumed run is loaded, so it is
always the student as it was before training. Only what the active terms use is loaded: no textual
teacher when its term is off, only its tokenizer (and output width) when signals come from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from audistill.config import ConfigError, RunConfig
from audistill.distill.objective import Geometry, JointObjective, TermSums
from audistill.distill.sources import (
    AcousticTeacherSource,
    CachedTextualSource,
    TextualSignal,
    TextualTeacherSource,
    cache_key,
    output_width,
    resolve_acoustic_form,
)
from audistill.models.adaptor import AudioStudentAdaptor, TextLMAdaptor
from audistill.models.checkpoint import resolve_checkpoint
from audistill.models.load import load_student, load_text_teacher
from audistill.train.phase_clock import PhaseClock
from audistill.views import PairBatch, ViewBuilder


@dataclass
class Components:
    student: AudioStudentAdaptor
    objective: JointObjective
    builder: ViewBuilder
    textual: TextualTeacherSource | CachedTextualSource | None = None
    acoustic: AcousticTeacherSource | None = None
    teacher: TextLMAdaptor | None = None


class DistillModule(nn.Module):
    """What trains (the student and the layer projections) and one micro-batch's objective terms.

    Accelerate wraps this module (DDP, FSDP), so the student's forward and the acoustic teacher's (which
    under LoRA runs the same weights) happen inside the wrapper's forward, where gradient sync and
    parameter gathering are set up. The acoustic source and the adaptor are plain attributes, never
    submodules: a frozen copy's weights are not trained, synced or sharded.
    """

    def __init__(self, student: AudioStudentAdaptor, objective: JointObjective,
                 acoustic: AcousticTeacherSource | None) -> None:
        super().__init__()
        self.student_model = student.model
        self.objective = objective
        self._student = student
        self._acoustic = acoustic
        self.clock = PhaseClock()  # off unless someone (`audistill bench`) starts it

    def forward(self, batch: PairBatch, textual: TextualSignal | None) -> TermSums:
        # Nothing reads the pads' outputs, so right-padded rows train the same without their padding mask,
        # and SDPA takes its causal kernel (on the bench's CPU step: 329 -> 308 ms forward and backward; on
        # a GPU the flash kernel, which takes no mask). The acoustic teacher reads the same rows.
        batch = replace(batch, student=batch.student.without_padding_mask())
        acoustic = None
        if self._acoustic is not None:
            with self.clock.phase("acoustic teacher"):
                acoustic = self._acoustic.signals(batch)
        with self.clock.phase("student forward"):
            record = self._student.forward(batch.student, **self.objective.student_wants)
        with self.clock.phase("objective"):
            result: TermSums = self.objective(record, textual, acoustic)
        return result


def _teacher_tokenizer(path: str, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    folder = resolve_checkpoint(path, "textual_teacher.path")
    return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)


def build_components(cfg: RunConfig, device: torch.device) -> Components:
    """Load and wire the run's models on `device` (see the module notes for the order)."""
    student = load_student(cfg.student.model_copy(update={"device": str(device)}))
    tt = cfg.textual_teacher
    textual_on = tt.enabled and tt.weight > 0
    teacher: TextLMAdaptor | None = None
    teacher_tokenizer = None
    geometry = Geometry(student.num_layers, student.hidden_size, student.vocab_size)
    if textual_on and tt.source == "online":
        teacher = load_text_teacher(tt, student_device=str(device))
        teacher_tokenizer = teacher.tokenizer
        geometry = Geometry(student.num_layers, student.hidden_size, student.vocab_size, teacher.num_layers,
                            teacher.hidden_size, teacher.vocab_size)
    elif textual_on:
        if tt.layers.strategy != "none" and tt.layers.weight > 0:
            raise ConfigError("textual_teacher.layers.strategy: the teacher cache holds top-layer top-k "
                              "signals only; layer terms need textual_teacher.source: online (or set "
                              "textual_teacher.layers.strategy: none)")
        teacher_tokenizer = _teacher_tokenizer(tt.path, tt.trust_remote_code)
        geometry = Geometry(student.num_layers, student.hidden_size, student.vocab_size,
                            teacher_vocab=output_width(tt.path, "textual_teacher.path"))
    objective = JointObjective(cfg, geometry).to(device)

    textual: TextualTeacherSource | CachedTextualSource | None = None
    if teacher is not None:
        textual = TextualTeacherSource(teacher, want_hidden=objective.textual_wants_hidden,
                                       spec=objective.spec, top_k=tt.top_k)
    elif textual_on:
        assert tt.cache_dir is not None and objective.spec.vocab_size is not None
        textual = CachedTextualSource(tt.cache_dir, cache_key(cfg, teacher_tokenizer,
                                                              objective.spec.vocab_size))
    acoustic = None
    if "acoustic" in objective.active:
        form = resolve_acoustic_form(cfg.acoustic_teacher.form, cfg.student.lora.enabled)
        acoustic = AcousticTeacherSource(student, form)
    if cfg.train.gradient_checkpointing:
        if student.has_adapter:
            student.hf_model.enable_input_require_grads()
        model = student.hf_model
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 (the old name warns)
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    builder = ViewBuilder(student.tokenizer, student.audio_format, teacher_tokenizer,
                          system_prompt=cfg.student.system_prompt, description_field=tt.description_field,
                          max_length=cfg.student.max_length)
    return Components(student, objective, builder, textual, acoustic, teacher)
