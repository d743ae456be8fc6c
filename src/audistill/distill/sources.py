"""Teacher signal sources: given a batch of paired views, each returns the signal its losses need.

One interface (DistilKit's "signals" idea): `source.signals(batch) -> signal`, run once per micro-batch
under `torch.no_grad()`, asking the model only for what the active terms use. The online teachers read
right-padded rows without a padding mask (`TextBatch.without_padding_mask`: causal attention already keeps
every real token from the pads after it) and run their last layer's MLP only where its output is read
(`models.last_layer`).

- `TextualTeacherSource` (online): the text LLM reads the teacher view (description + question + target)
  and returns its logits at the response positions (dense, or its top-k when `textual_teacher.top_k` is
  set) and, only when layer terms are on, its hidden states there.
- `CachedTextualSource`: the same top-layer signal read from `audistill cache` output, as top-k ids and
  log-probabilities per example; a cache made under another `CacheKey` is refused.
- `AcousticTeacherSource`: hidden states at the audio positions from the student as it was before
  training, either a frozen copy (`form: copy`) or, under LoRA, the student's own weights with the
  adapters disabled (`form: adapter`). It feeds only the tokens up to the batch's last audio token
  (`stop_after_audio`): in a causal decoder those states do not depend on anything later. A frozen,
  deterministic audio encoder runs once per micro-batch: the student's forward right after takes the
  teacher's encoder output (`shared_encoder`).

Cache key (what a cached signal depends on; `cache_key`):
- teacher: `textual_teacher.path` as configured;
- tokenizer hash: sha256 of the teacher tokenizer's backend JSON (per-call padding and truncation state
  removed), its chat template and its special tokens (`tokenizer_hash`);
- config hash: sha256 of every setting that changes the stored numbers: teacher path and dtype,
  temperature, k, masked ids, the shared vocabulary width, the sha256 of the data.train file, its format,
  the system prompt and the description field (`teacher_config_hash`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from torch import Tensor

from audistill.config import ConfigError
from audistill.distill.cache import CacheError, CacheKey, TeacherCacheReader, sha256_file
from audistill.distill.hidden import Lens
from audistill.distill.shared_encoder import share_frozen_encoder
from audistill.distill.token_losses import DivergenceSpec, teacher_topk
from audistill.models.last_layer import last_mlp_only_at

if TYPE_CHECKING:
    from audistill.config import RunConfig
    from audistill.models.adaptor import AudioStudentAdaptor, ModelAdaptor
    from audistill.models.batch import TextBatch
    from audistill.models.record import ForwardRecord
    from audistill.views import PairBatch

AcousticForm = Literal["copy", "adapter"]


@dataclass
class TextualSignal:
    """The textual teacher at the response positions of a batch (row t = target token t).

    Exactly one of `logits` (dense, [T, V_T]) or `topk_ids` / `topk_logprobs` ([T, k], tempered
    log-probabilities over the shared vocabulary) is set. `hidden` (layers 0..L_T, each [T, H_T]) and
    `lens` are set only when layer terms are on.
    """

    tokens_per_example: list[int]
    logits: Tensor | None = None
    topk_ids: Tensor | None = None
    topk_logprobs: Tensor | None = None
    hidden: tuple[Tensor, ...] | None = None
    lens: Lens | None = None


@dataclass
class AcousticSignal:
    """The pre-training student at the audio positions: layers 0..L, each [A, H], and its lens."""

    hidden: tuple[Tensor, ...]
    audio_tokens_per_example: list[int]
    lens: Lens


class SignalSource(Protocol):
    def signals(self, batch: PairBatch) -> Any: ...


class SignalError(ValueError):
    """A teacher signal that does not fit the batch; the message names the example."""


def _check_counts(kind: str, batch_ids: list[str], want: list[int], got: list[int]) -> None:
    for example_id, expected, found in zip(batch_ids, want, got, strict=True):
        if expected != found:
            raise SignalError(f"example {example_id!r}: the student has {expected} {kind} but the teacher "
                              f"signal has {found}")


def read_textual_teacher(teacher: ModelAdaptor, batch: TextBatch, *, want_hidden: bool) -> ForwardRecord:
    """The textual teacher's forward over right-padded teacher views, as the online source and the cache
    both read it: logits (and states when asked) at the response positions; the last layer's MLP only
    there, the rows without their padding mask (same outputs, module notes)."""
    read = torch.zeros_like(batch.attention_mask, dtype=torch.bool)
    read[:, :-1] = batch.response_mask()
    with last_mlp_only_at(teacher, read):
        return teacher.forward(batch.without_padding_mask(), want_logits=True, want_hidden=want_hidden)


class TextualTeacherSource:
    """The text LLM run online on the teacher views, no grad, eval mode.

    `want_hidden`: return the teacher's hidden states (layer terms on). `top_k`: keep only the teacher's
    top-k per token (`textual_teacher.top_k`), computed with `spec` (temperature, masked ids, shared
    vocabulary) exactly as the cache stores it.
    """

    def __init__(self, teacher: ModelAdaptor, *, want_hidden: bool, spec: DivergenceSpec,
                 top_k: int | None = None) -> None:
        self.teacher = teacher
        self.want_hidden = want_hidden
        self.spec = spec
        self.top_k = top_k
        teacher.model.eval()

    @torch.no_grad()
    def signals(self, batch: PairBatch) -> TextualSignal:
        if batch.teacher is None:
            raise SignalError("the batch has no teacher views (built without a textual teacher)")
        record = read_textual_teacher(self.teacher, batch.teacher, want_hidden=self.want_hidden)
        _check_counts("target tokens", batch.example_ids, batch.student.target_counts(),
                      record.tokens_per_example)
        assert record.response_logits is not None
        signal = TextualSignal(record.tokens_per_example, hidden=record.response_hidden,
                               lens=Lens.from_record(record) if self.want_hidden else None)
        if self.top_k is None:
            signal.logits = record.response_logits
        else:
            top = teacher_topk(record.response_logits, self.top_k, self.spec)
            signal.topk_ids, signal.topk_logprobs = top
        return signal


class CachedTextualSource:
    """Top-k teacher signals read from a cache written by `audistill cache` under the same key."""

    def __init__(self, folder: str | Path, key: CacheKey) -> None:
        self.reader = TeacherCacheReader(folder, key)
        self.key = key

    def check_covers(self, example_ids: list[str]) -> None:
        """Every training example must be in the cache (before the first step, not at step 5000)."""
        missing = [e for e in example_ids if e not in self.reader]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more"
                                                              if len(missing) > 5 else "")
            raise CacheError(f"{self.reader.folder}: {len(missing)} training example(s) are not in the "
                             f"cache ({shown}); rerun `audistill cache` on this data.train")

    def signals(self, batch: PairBatch) -> TextualSignal:
        parts = [self.reader.get(e) for e in batch.example_ids]
        _check_counts("target tokens", batch.example_ids, batch.student.target_counts(),
                      [ids.shape[0] for ids, _ in parts])
        device = batch.student.input_ids.device
        return TextualSignal(
            [ids.shape[0] for ids, _ in parts],
            topk_ids=torch.cat([ids for ids, _ in parts]).to(device),
            topk_logprobs=torch.cat([lp for _, lp in parts]).to(device),
        )


def resolve_acoustic_form(form: str, lora: bool) -> AcousticForm:
    """`auto` -> adapter under LoRA, else copy; copy under LoRA and adapter without it are config errors."""
    if form == "auto":
        return "adapter" if lora else "copy"
    if form == "adapter" and not lora:
        raise ConfigError("acoustic_teacher.form: 'adapter' needs student.lora.enabled: true")
    if form == "copy" and lora:
        raise ConfigError("acoustic_teacher.form: 'copy' under LoRA would hold a second model; the base "
                          "weights are already there (use adapter or auto)")
    if form not in ("copy", "adapter"):
        raise ConfigError(f"acoustic_teacher.form: unknown form {form!r}")
    return form  # type: ignore[return-value]


class AcousticTeacherSource:
    """The student as it was before training, at the audio positions (no grad, eval mode).

    Build it before the first optimizer step and before any checkpoint is loaded: `copy` snapshots the
    weights then; `adapter` runs the same module with every LoRA adapter switched off.
    """

    def __init__(self, student: AudioStudentAdaptor, form: AcousticForm) -> None:
        self.form = form
        self.student = student
        self.teacher: AudioStudentAdaptor | None = None
        if form == "copy":
            self.teacher = student.frozen_copy()  # type: ignore[assignment]
        elif not student.has_adapter:
            raise ConfigError("acoustic_teacher.form: 'adapter' needs student.lora.enabled: true")
        # A frozen, deterministic audio encoder runs once per micro-batch for both (`shared_encoder`).
        self.shared_encoder = share_frozen_encoder(student, self.teacher)

    @contextlib.contextmanager
    def _model(self) -> Iterator[ModelAdaptor]:
        if self.teacher is not None:
            yield self.teacher
            return
        model = self.student.model
        was_training = model.training
        model.eval()  # dropout off: the teacher is deterministic, as the copy form is
        try:
            with self.student.adapter_disabled() as base:
                yield base
        finally:
            model.train(was_training)

    @torch.no_grad()
    def signals(self, batch: PairBatch) -> AcousticSignal:
        sharing = self.shared_encoder
        with self._model() as model, sharing.producing() if sharing is not None else contextlib.nullcontext():
            read = model.audio_mask(batch.student)  # the last layer's output is read there only
            with last_mlp_only_at(model, read) if read is not None else contextlib.nullcontext():
                record = model.forward(batch.student.without_padding_mask(), want_logits=False,
                                       want_hidden=False, want_audio_hidden=True, stop_after_audio=True)
        assert record.audio_hidden is not None
        _check_counts("audio positions", batch.example_ids, batch.student.audio_counts(),
                      record.audio_tokens_per_example)
        return AcousticSignal(record.audio_hidden, record.audio_tokens_per_example, Lens.from_record(record))


# ---- cache keys ---------------------------------------------------------------------------------------

def tokenizer_hash(tokenizer: Any) -> str:
    """sha256 of what makes a tokenizer split and render text: backend JSON, chat template, specials."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        # transformers sets these per call (padding=..., truncation=...); they do not change the split.
        state.pop("padding", None)
        state.pop("truncation", None)
    else:
        state = {"vocab": tokenizer.get_vocab()}
    state["chat_template"] = getattr(tokenizer, "chat_template", None)
    state["special_tokens"] = {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())}
    blob = json.dumps(state, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def teacher_config_hash(cfg: RunConfig, shared_vocab_size: int) -> str:
    """sha256 of the run settings that change the cached teacher numbers (see the module notes)."""
    tt = cfg.textual_teacher
    if cfg.data.train is None:
        raise ConfigError("data.train: no training file configured")
    train = Path(cfg.data.train)
    if not train.is_file():
        raise ConfigError(f"data.train: {train}: file not found")
    fields = {
        "teacher_path": tt.path, "teacher_dtype": tt.dtype, "temperature": tt.temperature,
        "k": tt.cache_k, "mask_token_ids": sorted(set(tt.mask_token_ids)),
        "shared_vocab_size": shared_vocab_size, "data_train_sha256": sha256_file(train),
        "data_format": cfg.data.format, "system_prompt": cfg.student.system_prompt,
        "description_field": tt.description_field,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def cache_key(cfg: RunConfig, teacher_tokenizer: Any, shared_vocab_size: int) -> CacheKey:
    """The key a cache for this run is written and read under."""
    return CacheKey(teacher=cfg.textual_teacher.path, tokenizer_hash=tokenizer_hash(teacher_tokenizer),
                    config_hash=teacher_config_hash(cfg, shared_vocab_size), k=cfg.textual_teacher.cache_k)


def output_width(path: str, field: str) -> int:
    """Rows of a checkpoint's output layer (its text config's vocab_size), read without loading weights."""
    from transformers import AutoConfig

    from audistill.models.checkpoint import resolve_checkpoint

    folder = resolve_checkpoint(path, field)
    try:
        config = AutoConfig.from_pretrained(str(folder))
    except Exception as exc:
        raise ConfigError(f"{field}: {folder}: cannot read config.json ({exc})") from None
    return int(config.get_text_config().vocab_size)
