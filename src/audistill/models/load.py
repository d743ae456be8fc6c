"""Load a student or a textual teacher from the run config into its adaptor.

The family comes from the checkpoint's config.json (model_type), so switching student is a one-line
change of `student.path`: qwen2_audio -> Qwen2AudioAdaptor; qwen2_5_omni (full model: only the thinker is
loaded) or qwen2_5_omni_thinker -> OmniThinkerAdaptor; anything else -> TextLMAdaptor via
AutoModelForCausalLM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from audistill.config import StudentConfig, TextualTeacherConfig
from audistill.models.adaptor import (
    AudioStudentAdaptor,
    ModelAdaptor,
    OmniThinkerAdaptor,
    Qwen2AudioAdaptor,
    TextLMAdaptor,
    freeze,
)
from audistill.models.checkpoint import (
    STUDENT_FAMILIES,
    ModelLoadError,
    detect_family,
    quiet_transformers,
    read_model_type,
    resolve_checkpoint,
    resolve_device,
    resolve_dtype,
)
from audistill.models.trainable import configure_trainable


def _load_tokenizer(folder: Path, field: str, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"{field}: {folder}: cannot load the tokenizer ({exc})") from None


def _load_feature_extractor(folder: Path, field: str) -> Any:
    from transformers import WhisperFeatureExtractor

    try:
        return WhisperFeatureExtractor.from_pretrained(str(folder))
    except Exception as exc:
        raise ModelLoadError(f"{field}: {folder}: cannot load the audio feature extractor "
                             f"(preprocessor_config.json): {exc}") from None


def load_adaptor(
    path: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    field: str = "path",
) -> ModelAdaptor:
    """Load any supported checkpoint (local folder or hub id) into the adaptor of its family.

    Weights are loaded as they are (nothing frozen, no LoRA); `load_student` / `load_text_teacher` add
    the run's settings. `field` names the config path in errors.
    """
    folder = resolve_checkpoint(path, field)
    family = detect_family(folder, field)
    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    with quiet_transformers():
        model = _from_pretrained(folder, family, torch_dtype, trust_remote_code, field)
    model.to(target_device)
    tokenizer = _load_tokenizer(folder, field, trust_remote_code)
    if family == "causal_lm":
        return TextLMAdaptor(model, tokenizer, str(folder))
    cls = Qwen2AudioAdaptor if family == "qwen2_audio" else OmniThinkerAdaptor
    try:
        return cls(model, tokenizer, str(folder), _load_feature_extractor(folder, field))
    except ValueError as exc:
        raise ModelLoadError(f"{field}: {exc}") from None


def _from_pretrained(folder: Path, family: str, dtype: torch.dtype, trust_remote_code: bool,
                     field: str) -> Any:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        Qwen2_5OmniThinkerForConditionalGeneration,
        Qwen2AudioForConditionalGeneration,
    )

    try:
        if family == "qwen2_audio":
            model, info = Qwen2AudioForConditionalGeneration.from_pretrained(
                str(folder), dtype=dtype, output_loading_info=True)
        elif family == "qwen2_5_omni_thinker":
            config = AutoConfig.from_pretrained(str(folder))
            # A full Omni checkpoint: take the thinker's config; transformers strips the `thinker.` prefix
            # of its weights and skips the talker and token2wav.
            thinker_config = getattr(config, "thinker_config", config)
            model, info = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
                str(folder), config=thinker_config, dtype=dtype, output_loading_info=True)
        else:
            model, info = AutoModelForCausalLM.from_pretrained(
                str(folder), dtype=dtype, trust_remote_code=trust_remote_code, output_loading_info=True)
    except Exception as exc:
        raise ModelLoadError(f"{field}: {folder}: cannot load the model "
                             f"({type(exc).__name__}: {exc})") from None
    # Missing weights would silently be random: refuse them.
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ModelLoadError(f"{field}: {folder}: checkpoint lacks weights the model needs: {shown}")
    return model


def load_student(cfg: StudentConfig) -> AudioStudentAdaptor:
    """The student of a run: an audio LM with the run's dtype, device, freezing and LoRA applied."""
    adaptor = load_adaptor(cfg.path, dtype=cfg.dtype, device=cfg.device,
                           trust_remote_code=cfg.trust_remote_code, field="student.path")
    if not isinstance(adaptor, AudioStudentAdaptor):
        model_type = read_model_type(Path(adaptor.path), "student.path")
        raise ModelLoadError(f"student.path: {cfg.path}: model_type {model_type!r} is not an audio LM "
                             f"(supported: {', '.join(STUDENT_FAMILIES)}, qwen2_5_omni)")
    return configure_trainable(adaptor, cfg.lora, cfg.freeze_audio_encoder, cfg.freeze_projector)


def load_text_teacher(cfg: TextualTeacherConfig, student_device: str | None = None) -> TextLMAdaptor:
    """The textual teacher: a frozen text LM in eval mode.

    `textual_teacher.device: auto` means the student's device when `student_device` is given.
    """
    device = student_device if (cfg.device == "auto" and student_device) else cfg.device
    adaptor = load_adaptor(cfg.path, dtype=cfg.dtype, device=device,
                           trust_remote_code=cfg.trust_remote_code, field="textual_teacher.path")
    if not isinstance(adaptor, TextLMAdaptor):
        raise ModelLoadError(f"textual_teacher.path: {cfg.path}: is an audio LM ({adaptor.family}); the "
                             "textual teacher must be a text LM")
    freeze(adaptor.model)
    return adaptor
