"""Run configuration: one pydantic model per concern, loaded from YAML with `--set a.b=c` overrides.

Every field says what it is, its unit, its default and, where the paper (arXiv 2509.18579) gives
one, the paper's value. Unknown keys are rejected and every error names the field's dotted path.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
LayerStrategy = Literal["none", "top", "proportional", "skip", "all", "pairs"]
LayerCompare = Literal["logit_lens_topk", "logit_lens", "projected_mse", "projected_cosine", "mse", "cosine"]
DataFormat = Literal["auto", "jsonl", "mmau", "cota"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraConfig(_Section):
    enabled: bool = Field(
        False,
        description="Train LoRA adapters (peft) instead of all student weights. Default false; "
        "the paper does not say (full fine-tuning assumed).",
    )
    r: int = Field(16, ge=1, description="LoRA rank. Default 16.")
    alpha: float = Field(32.0, gt=0, description="LoRA scaling alpha (scale = alpha / r). Default 32.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input. Default 0.05.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        description="Module name suffixes of the language model that get adapters. Default: the "
        "attention projections q/k/v/o_proj. Audio-encoder modules are never targeted.",
    )


class StudentConfig(_Section):
    path: str = Field(
        "Qwen/Qwen2.5-Omni-7B",
        description="Student audio LM: a local directory or a hub id. The family is detected from "
        "its config's model_type. Paper: Qwen/Qwen2.5-Omni-7B.",
    )
    dtype: Dtype = Field("auto", description="Weight dtype; auto = bfloat16 on a GPU that supports "
                         "it, else float32. Default auto.")
    device: str = Field("auto", description="Device for the student (auto, cpu, cuda, cuda:1, ...). "
                        "Under accelerate launch each process takes its own device. Default auto.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA adapters for the student.")
    freeze_audio_encoder: bool = Field(
        True, description="Keep the audio encoder's weights fixed. Default true (paper: not stated)."
    )
    freeze_projector: bool = Field(
        False, description="Keep the audio-to-text projector fixed. Default false (paper: not stated)."
    )
    trust_remote_code: bool = Field(
        False, description="Allow code shipped with a checkpoint to run. Off unless you ask for it."
    )
    max_length: int = Field(
        2048, ge=16, description="Longest student sequence in tokens (prompt + audio + target); "
        "longer examples are a data error. Default 2048."
    )
    system_prompt: str = Field(
        "You are a helpful assistant.",
        description="System turn of the chat template in every view (student, textual teacher, "
        "evaluation prompts). Default: Qwen's 'You are a helpful assistant.' (paper: not stated).",
    )


class LayerDistillConfig(_Section):
    strategy: LayerStrategy = Field(
        "proportional",
        description="Which student layers receive a signal (layers numbered 1..L as HF "
        "hidden_states[1:]). none | top | proportional (student i -> teacher round(i*L_T/L_S)) | "
        "skip (every k-th student layer, proportional partner) | all (identity, same depth) | "
        "pairs (explicit). Paper's full method: proportional (layer-wise).",
    )
    k: int = Field(7, ge=1, description="Step of the skip strategy. Default 7 (paper: 1 in 7).")
    pairs: list[tuple[int, int]] = Field(
        default_factory=list,
        description="Explicit (student layer, teacher layer) pairs for strategy 'pairs'.",
    )
    compare: LayerCompare = Field(
        "logit_lens_topk",
        description="How a student layer is compared with its teacher layer: logit_lens_topk (each "
        "side's hidden state through its own final norm and LM head, then the top-layer divergence "
        "over the textual teacher's top lens_top_k tokens of that position, renormalised there; "
        "textual layers only), logit_lens (the same over the whole shared vocabulary: exact, but the "
        "full head at every mapped layer costs about as much as the SFT step), projected_mse / "
        "projected_cosine (learned linear map from student width to teacher width), mse / cosine "
        "(equal widths only). Default logit_lens_topk (paper: not stated).",
    )
    lens_top_k: int = Field(
        32, ge=1, description="Tokens per position that logit_lens_topk compares: the textual "
        "teacher's top-k at its top layer (the whole vocabulary when it is smaller). Default 32, the "
        "k the teacher cache keeps (textual_teacher.cache_k).",
    )
    weight: float = Field(
        0.05, ge=0, description="Weight of the layer terms relative to the top-layer term. "
        "Paper: 0.05."
    )
    reduction: Literal["sum", "mean"] = Field(
        "sum", description="Sum or mean of the per-layer terms. Paper: sum (as written); default sum."
    )


class TextualTeacherConfig(_Section):
    enabled: bool = Field(True, description="Use the textual teacher. Default true.")
    path: str = Field(
        "Qwen/Qwen3-8B",
        description="Text LLM that reads the textualized audio: a local directory or a hub id. "
        "Paper: Qwen/Qwen3-8B (36 layers).",
    )
    dtype: Dtype = Field("auto", description="Teacher weight dtype. Default auto.")
    device: str = Field("auto", description="Teacher device. Default auto (the student's).")
    trust_remote_code: bool = Field(False, description="Allow checkpoint code. Default false.")
    weight: float = Field(1.0, ge=0, description="Weight of the whole textual term. Paper: 1.")
    divergence: str = Field(
        "jsd",
        description="Registered divergence for the top layer (forward_kl, reverse_kl, jsd, "
        "skew_kl, tv). Paper: jsd (symmetric Jensen-Shannon).",
    )
    beta: float = Field(
        0.5, ge=0, le=1, description="Generalised-JSD mixing weight; 0.5 is the symmetric JSD. "
        "Paper: 0.5."
    )
    skew_lambda: float = Field(0.1, ge=0, le=1, description="Mixing lambda of skew KL. Default 0.1.")
    temperature: float = Field(
        1.0, gt=0, description="Softmax temperature applied to both sides' logits before the "
        "divergence; the loss is multiplied by T^2 (Hinton's convention). Default 1 (paper: not "
        "stated)."
    )
    top_k: int | None = Field(
        None, ge=1, description="Keep only the teacher's top-k tokens per position (None = dense). "
        "The cache always stores top-k. Default None."
    )
    tail: Literal["renormalise", "bucket"] = Field(
        "bucket", description="Top-k missing mass: renormalise it away, or keep it as one tail "
        "bucket. Default bucket."
    )
    source: Literal["online", "cache"] = Field(
        "online", description="Run the teacher each step (online) or read its top-k signal from "
        "`audistill cache` output (cache). Default online."
    )
    cache_dir: str | None = Field(None, description="Folder of the teacher cache. Default none.")
    cache_k: int = Field(32, ge=1, description="Top-k stored per target token by the cache. Default 32.")
    cache_batch_size: int = Field(
        8, ge=1, description="Examples per teacher forward pass in `audistill cache` (no gradients, so "
        "larger than train.batch_size fits). Default 8."
    )
    mask_token_ids: list[int] = Field(
        default_factory=list,
        description="Token ids excluded from every distribution comparison (special tokens whose "
        "meaning differs between teacher and student). Default none.",
    )
    chunk_size: int | None = Field(
        None, ge=1, description="Target tokens per chunk when divergences (top layer and logit "
        "lens) are computed; extra memory is a few chunk x vocabulary fp32 buffers. None = "
        "automatic: one L2 cache of fp32 vocabulary entries per chunk on CPU (2^17 at 512 KiB; 2^18 "
        "where the size is unknown; 2^22 for the exact logit lens), 2^25 "
        "on GPU (about 1 / 220 tokens at Qwen's 152k vocabulary). Default None (an implementation "
        "setting, not the paper's)."
    )
    description_field: str = Field(
        "description", description="Example field the teacher reads in place of the audio."
    )
    layers: LayerDistillConfig = Field(
        default_factory=LayerDistillConfig, description="Layer-wise textual distillation."
    )


class AcousticLayerConfig(LayerDistillConfig):
    """The acoustic teacher's layer section: its own defaults, so that overriding one field (e.g.
    `--set acoustic_teacher.layers.reduction=mean`) keeps the others."""

    strategy: LayerStrategy = Field(
        "all", description="Which student layers are anchored to the frozen pre-training student (same "
        "numbering and strategies as textual_teacher.layers). Default all (paper: all layers).",
    )
    compare: LayerCompare = Field(
        "mse", description="How a layer's states at the audio positions are compared with the frozen "
        "student's. Default mse (paper: not stated).",
    )
    weight: float = Field(
        1.0, ge=0, description="Multiplies the acoustic layer terms on top of acoustic_teacher.weight. "
        "Default 1 (the paper's L_ac has no second weight).",
    )


class AcousticTeacherConfig(_Section):
    enabled: bool = Field(True, description="Use the acoustic teacher (frozen pre-training "
                          "student). Default true (paper's full method).")
    weight: float = Field(0.05, ge=0, description="Weight of the acoustic term. Paper: 0.05.")
    form: Literal["auto", "copy", "adapter"] = Field(
        "auto", description="copy = a frozen copy of the student; adapter = the student's own "
        "weights with LoRA disabled (needs student.lora.enabled); auto = adapter under LoRA, else "
        "copy. Default auto."
    )
    layers: AcousticLayerConfig = Field(
        default_factory=AcousticLayerConfig,
        description="Which student layers are anchored and how (default: all layers, MSE at audio "
        "positions; paper: all layers, divergence not stated).",
    )


class SFTConfig(_Section):
    weight: float = Field(0.5, ge=0, description="Weight of the cross-entropy on the target "
                          "(reasoning trace + answer). Paper: 0.5.")


class DataConfig(_Section):
    train: str | None = Field(None, description="Training data file (JSONL, MMAU JSON or CoTA).")
    dev: str | None = Field(None, description="Development data file.")
    test: str | None = Field(None, description="Test data file.")
    format: DataFormat = Field("auto", description="auto | jsonl | mmau | cota. Default auto.")
    audio_root: str | None = Field(
        None, description="Folder that relative audio paths are resolved against. Default: the "
        "data file's folder."
    )
    sample_rate: int = Field(16000, ge=1000, description="Rate audio is resampled to, Hz. Default "
                             "16000 (Whisper-style encoders of both Qwen students).")
    max_audio_seconds: float = Field(30.0, gt=0, description="Longest usable clip, seconds. "
                                     "Default 30 (the Whisper encoder's window).")
    max_examples: int | None = Field(None, ge=1, description="Use only the first N rows (debug).")


class TrainConfig(_Section):
    output_dir: str = Field("runs/audistill", description="Where checkpoints, metrics, config and "
                            "versions are written.")
    seed: int = Field(0, description="Seed for data order, initialisation and sampling. Default 0.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training data when max_steps is "
                          "not set. Paper: 3.")
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs.")
    save_every: int = Field(500, ge=1, description="Checkpoint every N optimizer steps. Default 500.")
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept on disk. Default 2.")
    batch_size: int = Field(1, ge=1, description="Examples per device per micro-batch. Default 1.")
    grad_accum: int = Field(1, ge=1, description="Micro-batches per optimizer step. Default 1.")
    lr: float = Field(1e-5, gt=0, description="Peak learning rate. Paper: 1e-5.")
    projection_lr_multiplier: float = Field(
        10.0, gt=0, description="Learning rate of the layer projections over lr. Default 10."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay. Default 0.")
    fused_adamw: bool = Field(
        True, description="torch's fused AdamW kernel where torch has one (CPU, CUDA): one pass over all "
        "parameters instead of a loop of small ops per tensor; the same update up to rounding. What "
        "transformers' Trainer uses by default since torch 2.8. Default true."
    )
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of steps of linear warmup "
                                "before the cosine decay. Default 0.03.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm. Default 1.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        "auto", description="Autocast of the forward passes (weights keep student.dtype): auto = the "
        "mixed_precision of `accelerate launch`'s config when launched so, else bf16 on a GPU that "
        "supports it, else none (CPU). Default auto."
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward.")
    log_every: int = Field(1, ge=1, description="Write metrics every N optimizer steps.")
    phase_times: bool = Field(False, description="Add each step's seconds per phase (textual teacher, "
                              "acoustic teacher, student forward, objective, backward, optimizer) to the "
                              "metrics as seconds/<phase>. On CUDA each phase boundary then synchronises "
                              "the device, which costs a little throughput.")
    num_workers: int = Field(0, ge=0, description="DataLoader workers. Default 0.")


class EvalConfig(_Section):
    decoding: Literal["greedy", "paper"] = Field(
        "greedy", description="greedy (reproducible default) or paper (temperature 0.6, top-k 5, "
        "top-p 0.5, seeded)."
    )
    temperature: float = Field(0.6, gt=0, description="Sampling temperature of paper decoding.")
    top_k: int = Field(5, ge=1, description="Top-k of paper decoding. Paper: 5.")
    top_p: float = Field(0.5, gt=0, le=1, description="Top-p of paper decoding. Paper: 0.5.")
    max_new_tokens: int = Field(512, ge=1, description="Generation length limit, tokens.")
    batch_size: int = Field(8, ge=1, description="Examples per generation batch.")


class RunConfig(_Section):
    """A whole run: the models, the objective's terms, the data, training and evaluation."""

    student: StudentConfig = Field(default_factory=StudentConfig)
    textual_teacher: TextualTeacherConfig = Field(default_factory=TextualTeacherConfig)
    acoustic_teacher: AcousticTeacherConfig = Field(default_factory=AcousticTeacherConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _check_consistency(self) -> RunConfig:
        tt = self.textual_teacher
        if tt.enabled and tt.source == "cache" and not tt.cache_dir:
            raise ValueError("textual_teacher.cache_dir: required when textual_teacher.source is "
                             "'cache'")
        for name, layers in (("textual_teacher", tt.layers),
                             ("acoustic_teacher", self.acoustic_teacher.layers)):
            if layers.strategy == "pairs" and not layers.pairs:
                raise ValueError(f"{name}.layers.pairs: required when strategy is 'pairs'")
            for i, (s, t) in enumerate(layers.pairs):
                if s < 1 or t < 1:
                    raise ValueError(f"{name}.layers.pairs.{i}: layers are numbered from 1, "
                                     f"got ({s}, {t})")
        if self.acoustic_teacher.form == "adapter" and not self.student.lora.enabled:
            raise ValueError("acoustic_teacher.form: 'adapter' needs student.lora.enabled: true")
        return self

    def hash(self) -> str:
        """Short stable hash of the resolved config (for caches and run records)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _format_error(err: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in err["loc"]) or "<root>"
    kind, ctx = err["type"], err.get("ctx") or {}
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
              "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{path}: must be {bounds[kind]} {limit}"
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        return msg if ":" in msg.split(" ")[0] else f"{path}: {msg}"
    return f"{path}: {err['msg']}"


def _validate(raw: dict[str, Any], source: str) -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_format_error(e) for e in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration\n  " + "\n  ".join(lines)) from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.lr=2e-5")
    key, _, text = assignment.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {assignment!r}: empty key")
    node: Any = raw
    model: type[BaseModel] | None = RunConfig
    for depth, part in enumerate(parts):
        if model is not None and part not in model.model_fields:
            path = ".".join(parts[: depth + 1])
            raise ConfigError(f"--set {key}: unknown key {path!r}")
        annotation = model.model_fields[part].annotation if model is not None else None
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth == len(parts) - 1:
            node[part] = yaml.safe_load(text) if text.strip() else None
        else:
            if not is_section:
                raise ConfigError(f"--set {key}: {'.'.join(parts[: depth + 1])!r} is not a section")
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {'.'.join(parts[: depth + 1])!r} is not a mapping")
            model = annotation


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML config (or the defaults when path is None) and apply `--set` overrides."""
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: top level must be a mapping of sections")
        raw = loaded
    for assignment in overrides or []:
        apply_override(raw, assignment)
    return _validate(raw, source)


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML, defaults filled in."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def describe_fields(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, description) for every leaf field: the config's reference documentation."""
    rows: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        path = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe_fields(annotation, path + "."))
        else:
            rows.append((path, field.description or ""))
    return rows
