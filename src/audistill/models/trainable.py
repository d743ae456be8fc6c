"""What of the student trains: LoRA adapters on the language model, and freezing of encoder and projector.

Without LoRA every weight trains except the frozen parts. With LoRA (peft), only the adapters train, plus
a trainable copy (peft `modules_to_save`) of the audio encoder or projector when they are not frozen:
peft keeps the original next to the copy, so `adapter_disabled()` still runs exactly the weights the
student started from, which the acoustic teacher relies on.
"""

from __future__ import annotations

import re
import warnings

from torch import nn

from audistill.config import LoraConfig
from audistill.models.adaptor import AudioStudentAdaptor


class TrainableSetupError(ValueError):
    """A LoRA or freezing request that cannot be applied; the message names the config field."""


def _under(name: str, prefix: str) -> bool:
    return bool(prefix) and (name == prefix or name.startswith(prefix + "."))


def _set_requires_grad(model: nn.Module, prefix: str, value: bool, keep: str = "") -> None:
    for name, param in model.named_parameters():
        if _under(name, prefix) and not _under(name, keep):
            param.requires_grad_(value)


def lora_target_regex(adaptor: AudioStudentAdaptor, target_modules: list[str]) -> str:
    """A peft target regex matching the named linear layers inside the language model only."""
    if not target_modules:
        raise TrainableSetupError("student.lora.target_modules: empty list")
    names = "|".join(re.escape(t) for t in target_modules)
    return rf"{re.escape(adaptor.language_model_prefix)}\..*\.({names})"


def configure_trainable(
    adaptor: AudioStudentAdaptor,
    lora: LoraConfig,
    freeze_audio_encoder: bool,
    freeze_projector: bool,
) -> AudioStudentAdaptor:
    """Apply freezing and (optionally) LoRA to the student in place; returns the same adaptor."""
    model = adaptor.hf_model
    if adaptor.has_adapter:
        raise TrainableSetupError(f"{adaptor.path}: LoRA is already applied")
    encoder, projector = adaptor.encoder_prefix, adaptor.projector_prefix
    projector_in_encoder = _under(projector, encoder)
    for prefix in adaptor.unused_prefixes:
        _set_requires_grad(model, prefix, False)
    if not lora.enabled:
        _set_requires_grad(model, encoder, not freeze_audio_encoder,
                           keep=projector if projector_in_encoder else "")
        _set_requires_grad(model, projector, not freeze_projector)
        return adaptor

    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    to_save: list[str] = []
    if not freeze_audio_encoder:
        if projector_in_encoder and freeze_projector:
            raise TrainableSetupError(
                f"student.freeze_projector: in {adaptor.family} the projector ({projector}) sits inside the "
                "audio encoder; under LoRA an unfrozen encoder trains it too (set freeze_projector: false "
                "or freeze_audio_encoder: true)")
        to_save.append(encoder)
    if not freeze_projector and not (projector_in_encoder and not freeze_audio_encoder):
        to_save.append(projector)
    config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_target_regex(adaptor, lora.target_modules),
        modules_to_save=to_save or None,
        bias="none",
    )
    try:
        with warnings.catch_warnings():
            # peft asks transformers about gradient checkpointing through a name it deprecated.
            warnings.simplefilter("ignore", FutureWarning)
            adaptor.model = get_peft_model(model, config)
    except ValueError as exc:
        raise TrainableSetupError(f"student.lora.target_modules: {exc}") from None
    return adaptor
