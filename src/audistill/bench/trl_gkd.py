"""Our text-only distillation step against TRL's GKDTrainer step, on the same models, batch and sequence.

The work: a text student (the audio student's own language model and LM head, as a causal LM with the
same weights) and the textual teacher read the same teacher-view batch (description + question +
target); the loss is the generalised JSD (beta 0.5, temperature 1) on the target tokens; then gradient
clipping at 1 and one AdamW step, at the same learning rate on both sides.

- Ours: `TextLMAdaptor` forwards (right-padded rows without their padding mask, as the trainer reads
  them), `TextualTeacherSource` for the teacher's signal and `JointObjective` with only the top-layer
  term (SFT weight 0, no layers, no acoustic teacher): logits at the target positions only, and the
  fused chunked divergence; the trainer's fused AdamW.
- TRL: `GKDTrainer.training_step` (compute_loss and backward) on the prepared batch with lmbda = 0 and
  seq_kd off (no generation: the given targets, as ours), then the same clipping and optimizer step.
  TRL computes both models' logits at every position and the JSD over the whole [B, L, V] tensor.

TRL is a dev extra (`pip install trl`); without it the comparison is skipped and reported missing.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch

from audistill.config import load_config
from audistill.distill.objective import Geometry, JointObjective
from audistill.distill.sources import TextualTeacherSource
from audistill.models.adaptor import AudioStudentAdaptor, TextLMAdaptor
from audistill.models.batch import StudentBatch, TextBatch
from audistill.train.loop import build_adamw
from audistill.views import PairBatch

LEARNING_RATE = 1e-6
MAX_GRAD_NORM = 1.0


def trl_available() -> bool:
    try:
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


def text_student(student: AudioStudentAdaptor) -> TextLMAdaptor:
    """The audio student's language model and LM head as a causal LM holding a copy of the same weights."""
    from transformers import AutoModelForCausalLM

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4
        from transformers.modeling_utils import no_init_weights  # type: ignore[attr-defined,no-redef]

    hf = student.hf_model
    with no_init_weights():  # every weight is overwritten below
        model = AutoModelForCausalLM.from_config(_causal_lm_config(hf.config.get_text_config()),
                                                 dtype=student.dtype)
    state = {f"model.{k}": v for k, v in hf.model.language_model.state_dict().items()}
    state["lm_head.weight"] = hf.lm_head.weight
    model.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)
    model.to(student.device)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    return TextLMAdaptor(model, student.tokenizer, student.path + " (language model)")


def _causal_lm_config(text_config: Any) -> Any:
    """The student's text config, or for Qwen2.5-Omni (a Qwen2 decoder whose multimodal rotary
    embedding equals the plain one on text, where the three position streams coincide) a Qwen2Config."""
    from transformers import Qwen2Config
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if text_config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return text_config
    if text_config.model_type != "qwen2_5_omni_text":
        raise ValueError(f"text config {text_config.model_type!r}: no causal LM class for the text-only "
                         "comparison with TRL")
    fields = text_config.to_dict()
    rope = dict(fields.get("rope_parameters") or {})
    rope.pop("mrope_section", None)
    rope["rope_type"] = "default"
    keep = {k: v for k, v in fields.items() if k in Qwen2Config().to_dict() and k not in
            ("model_type", "architectures", "rope_parameters", "transformers_version")}
    return Qwen2Config(**keep, rope_parameters=rope)


@dataclass
class OursTextStep:
    """Our text-only distillation step (generalised JSD, beta 0.5) from the library's parts."""

    student: TextLMAdaptor
    source: TextualTeacherSource
    objective: JointObjective
    batch: TextBatch
    optimizer: torch.optim.Optimizer
    name: str = "ours_text_jsd"

    @classmethod
    def build(cls, student: TextLMAdaptor, teacher: TextLMAdaptor, batch: TextBatch) -> OursTextStep:
        cfg = load_config(None, ["sft.weight=0", "acoustic_teacher.enabled=false",
                                 "textual_teacher.layers.strategy=none", "textual_teacher.divergence=jsd",
                                 "textual_teacher.beta=0.5", "textual_teacher.temperature=1.0"])
        geometry = Geometry(student.num_layers, student.hidden_size, student.vocab_size, teacher.num_layers,
                            teacher.hidden_size, teacher.vocab_size)
        objective = JointObjective(cfg, geometry).to(student.device)
        source = TextualTeacherSource(teacher, want_hidden=False, spec=objective.spec)
        params = [p for p in student.model.parameters() if p.requires_grad]
        # The trainer's optimizer, configured as GKDTrainer's (transformers' defaults: fused since torch 2.8,
        # no weight decay), so both sides do the same work.
        optimizer = build_adamw([{"params": params}], lr=LEARNING_RATE, weight_decay=0.0, fused=True)
        return cls(student, source, objective, batch.to(student.device), optimizer)

    def step(self) -> None:
        pair = PairBatch(cast(StudentBatch, self.batch), self.batch)
        signal = self.source.signals(pair)
        record = self.student.forward(self.batch.without_padding_mask(), want_logits=True, want_hidden=False)
        sums = self.objective(record, signal)
        self.objective.loss(sums.terms, sums.tokens, 0).backward()
        torch.nn.utils.clip_grad_norm_(self.student.model.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


@dataclass
class TrlGkdStep:
    """One GKDTrainer training step (plus clipping and the optimizer step) on a prepared batch."""

    trainer: Any
    inputs: dict[str, torch.Tensor]
    name: str = "trl_gkd"

    @classmethod
    def build(cls, student: TextLMAdaptor, teacher: TextLMAdaptor, batch: TextBatch, workdir: Path
              ) -> TrlGkdStep:
        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from datasets import Dataset
        from transformers.utils import logging as hf_logging
        from trl.experimental.gkd import GKDConfig, GKDTrainer

        cpu = student.device.type == "cpu"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            args = GKDConfig(output_dir=str(workdir / "trl"), report_to=[], lmbda=0.0, beta=0.5,
                             temperature=1.0, seq_kd=False, use_cpu=cpu,
                             per_device_train_batch_size=batch.input_ids.shape[0],
                             learning_rate=LEARNING_RATE, max_grad_norm=MAX_GRAD_NORM, logging_strategy="no",
                             save_strategy="no", max_length=None, bf16=False, fp16=False, disable_tqdm=True,
                             seed=0)
            # GKDTrainer needs a dataset to start; the steps below never read it.
            placeholder = Dataset.from_list([{"messages": [{"role": "user", "content": "a"},
                                                           {"role": "assistant", "content": "b"}]}])
            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
            try:
                trainer = GKDTrainer(model=student.model, teacher_model=teacher.model, args=args,
                                     train_dataset=placeholder, processing_class=student.tokenizer)
            finally:
                hf_logging.set_verbosity(level)
        trainer.create_optimizer()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's own loop, which is not run
        device = student.device
        inputs = {"input_ids": batch.input_ids.to(device), "attention_mask": batch.attention_mask.to(device),
                  "labels": batch.labels.to(device)}
        return cls(trainer, inputs)

    def step(self) -> None:
        trainer = self.trainer
        trainer.training_step(trainer.model, dict(self.inputs))
        torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), MAX_GRAD_NORM)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)


def text_steps(student: AudioStudentAdaptor, teacher: TextLMAdaptor, batch: TextBatch, workdir: Path
               ) -> list[OursTextStep | TrlGkdStep]:
    """Ours and (when trl is installed) TRL's step, each on its own copy of the same initial models."""
    ours = OursTextStep.build(text_student(student), teacher, batch)
    if not trl_available():
        return [ours]
    return [ours, TrlGkdStep.build(text_student(student), teacher, batch, workdir)]
