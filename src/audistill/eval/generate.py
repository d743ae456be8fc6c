"""Batched generation with the KV cache for every model family: evaluation answers and audio descriptions.

Three prompt views (`audistill.views` builds the first two):

- "prompt": the student hears the clip and reads the question and choices (evaluation).
- "describe": the student hears the clip and is asked to describe it (textualization).
- "teacher": a text LM reads the example's description in place of the audio, then the question and
  choices: the textual teacher's prompt without its target.

Prompts are left-padded into batches and run through HF `generate` on the adaptor's HF model (LoRA
adapters, injected in place, run too). Students also get their log-mel features and frame masks
(`input_features`, `feature_attention_mask`); both Qwen2-Audio and the Qwen2.5-Omni thinker take
exactly these. Generation stops at the end-of-turn token (`<|im_end|>`) and at every eos id of the
tokenizer and the checkpoint's generation config; the stop token is not part of the returned text.

Decoding is fully defined here, so a checkpoint's own `generation_config.json` (Qwen ships sampling
settings and a repetition penalty there) never changes a result: "greedy" is plain argmax decoding,
"paper" samples with temperature 0.6, top-k 5, top-p 0.5 (arXiv 2509.18579) from a seeded generator.
Each batch is seeded from (seed, batch index), and the caller's random state is left untouched.

Examples are sorted by (estimated) prompt length, longest first, so each batch holds prompts of
similar length and little padding; results come back in the input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from audistill.config import EvalConfig
from audistill.data.audio import AudioError, audio_duration
from audistill.data.example import Example
from audistill.models.adaptor import AudioFormat, AudioStudentAdaptor, ModelAdaptor
from audistill.models.batch import StudentBatch, TextBatch
from audistill.models.checkpoint import quiet_transformers
from audistill.views import (
    DEFAULT_SYSTEM_PROMPT,
    DESCRIBE_PROMPT,
    DESCRIPTION_PREFIX,
    AudioGuardError,
    StudentView,
    TextView,
    ViewBuilder,
    ViewError,
    audio_guard,
    collate_students,
    collate_texts,
    description_of,
    end_of_turn,
    question_text,
    render_prompt,
)

ViewName = Literal["prompt", "describe", "teacher"]
DecodingMode = Literal["greedy", "paper"]
VIEWS: tuple[str, ...] = ("prompt", "describe", "teacher")


class GenerationError(ValueError):
    """Examples or a model that cannot be generated from; the message names the examples or the model."""


@dataclass(frozen=True)
class DecodingSettings:
    """How tokens are chosen. `greedy` ignores temperature, top-k and top-p; `paper` samples with them."""

    mode: DecodingMode = "greedy"
    temperature: float = 0.6
    top_k: int = 5
    top_p: float = 0.5
    max_new_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("greedy", "paper"):
            raise ValueError(f"decoding must be greedy or paper, got {self.mode!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0 or self.top_k < 1 or not 0 < self.top_p <= 1:
            raise ValueError(f"paper decoding needs temperature > 0, top_k >= 1 and 0 < top_p <= 1; got "
                             f"{self.temperature}, {self.top_k}, {self.top_p}")

    @classmethod
    def from_config(cls, cfg: EvalConfig, seed: int = 0, **overrides: Any) -> DecodingSettings:
        """Settings of a run config's `eval` section; keyword overrides win (None values are ignored)."""
        values: dict[str, Any] = {"mode": cfg.decoding, "temperature": cfg.temperature, "top_k": cfg.top_k,
                                  "top_p": cfg.top_p, "max_new_tokens": cfg.max_new_tokens, "seed": seed}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def generate_kwargs(self) -> dict[str, Any]:
        """The decoding arguments of HF `generate`, with every knob that a checkpoint's generation config
        could otherwise set pinned to its neutral value."""
        neutral: dict[str, Any] = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
                                   "typical_p": 1.0, "max_new_tokens": self.max_new_tokens}
        if self.mode == "greedy":
            # HF applies temperature, top-k and top-p only when sampling, so greedy needs none of them.
            return {**neutral, "do_sample": False}
        return {**neutral, "do_sample": True, "temperature": self.temperature, "top_k": self.top_k,
                "top_p": self.top_p}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "max_new_tokens": self.max_new_tokens}
        if self.mode == "paper":
            out.update(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self.seed)
        return out


@dataclass(frozen=True)
class Generation:
    """One example's output: the text before the stop token and how generation ended."""

    example_id: str
    text: str
    prompt_tokens: int
    new_tokens: int  # generated tokens, the stop token included when there is one
    stopped: bool  # True: ended on a stop token; False: cut at max_new_tokens


@dataclass(frozen=True)
class PromptOptions:
    """What the prompts say besides the example: the system turn, the description field, the describe ask."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    description_field: str = "description"
    describe_prompt: str = DESCRIBE_PROMPT


def default_view(adaptor: ModelAdaptor) -> ViewName:
    """"prompt" for an audio student (it hears the clip), "teacher" for a text LM (reads the description)."""
    return "prompt" if isinstance(adaptor, AudioStudentAdaptor) else "teacher"


def teacher_prompt_ids(tokenizer: Any, example: Example, options: PromptOptions) -> list[int]:
    """The textual teacher's prompt (description, question, choices, assistant header) as token ids.

    The same text `ViewBuilder.teacher_view` puts before its target.
    """
    user = DESCRIPTION_PREFIX + description_of(example, options.description_field) + "\n" + \
        question_text(example)
    return list(tokenizer(render_prompt(tokenizer, options.system_prompt, user),
                          add_special_tokens=False)["input_ids"])


def check_descriptions(examples: Sequence[Example], field: str = "description") -> None:
    """GenerationError listing every example without a usable description (a text LM needs one each)."""
    missing: list[str] = []
    for example in examples:
        try:
            description_of(example, field)
        except ViewError:
            missing.append(f"{example.id!r}" + (f" ({example.origin})" if example.origin else ""))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise GenerationError(
            f"{len(missing)} of {len(examples)} example(s) have no audio description (field {field!r}), "
            f"which a text model reads in place of the audio: {shown}. Run `audistill textualize` on the "
            "data first, or evaluate an audio model.")


def stop_token_ids(adaptor: ModelAdaptor) -> list[int]:
    """End-of-turn id, then every eos id of the tokenizer and of the checkpoint's generation config."""
    ids = [end_of_turn(adaptor.tokenizer)[1]]
    extra: list[Any] = [adaptor.tokenizer.eos_token_id]
    config_eos = getattr(getattr(adaptor.hf_model, "generation_config", None), "eos_token_id", None)
    extra.extend(config_eos if isinstance(config_eos, list) else [config_eos])
    for token_id in extra:
        if token_id is not None and int(token_id) not in ids:
            ids.append(int(token_id))
    return ids


def pad_token_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def batch_seed(seed: int, batch_index: int) -> int:
    """A well-mixed 63-bit seed for one batch (seeds s and s+1 never share batch streams)."""
    return int(np.random.SeedSequence([seed, batch_index]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _audio_tokens_estimate(fmt: AudioFormat, example: Example) -> int:
    """Audio tokens of a clip from its file header (no decoding), capped at the encoder's window."""
    fe = fmt.feature_extractor
    try:
        seconds = audio_duration(example.audio)
    except AudioError:
        return 0  # building the view reports the file properly
    frames = min(int(seconds * fe.sampling_rate) // fe.hop_length, int(fe.nb_max_frames))
    return fmt.tokens_for_frames(frames)


class PromptMaker:
    """Builds one view's prompts for an adaptor and collates them left-padded."""

    def __init__(self, adaptor: ModelAdaptor, view: ViewName, options: PromptOptions) -> None:
        if view not in VIEWS:
            raise GenerationError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
        if view != "teacher" and not isinstance(adaptor, AudioStudentAdaptor):
            raise GenerationError(f"{adaptor.path}: the {view!r} view needs an audio model, but this is a "
                                  f"text LM ({adaptor.family}); use the 'teacher' view (descriptions)")
        self.adaptor = adaptor
        self.view = view
        self.options = options
        self.pad_id = pad_token_id(adaptor.tokenizer)
        self.builder: ViewBuilder | None = None
        if isinstance(adaptor, AudioStudentAdaptor):
            self.builder = ViewBuilder.for_models(adaptor, system_prompt=options.system_prompt,
                                                  description_field=options.description_field)

    def length_key(self, example: Example) -> int:
        """Estimated prompt tokens (the chat template's constant part left out), for sorting only."""
        tokenizer = self.adaptor.tokenizer
        if self.view == "teacher":
            text = description_of(example, self.options.description_field) + question_text(example)
        elif self.view == "describe":
            text = self.options.describe_prompt
        else:
            text = question_text(example)
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.view != "teacher" and self.builder is not None:
            n += _audio_tokens_estimate(self.builder.audio_format, example)
        return n

    def view_of(self, example: Example) -> TextView:
        if self.view == "teacher":
            ids = teacher_prompt_ids(self.adaptor.tokenizer, example, self.options)
            return TextView(example.id, ids, [-100] * len(ids))
        assert self.builder is not None
        if self.view == "describe":
            return self.builder.describe_view(example, self.options.describe_prompt)
        return self.builder.prompt_view(example)

    def batch(self, examples: Sequence[Example]) -> TextBatch:
        """Left-padded prompts of `examples`; student batches pass the audio guard."""
        views = [self.view_of(example) for example in examples]
        if self.view == "teacher" or self.builder is None:
            return collate_texts(views, self.pad_id, padding_side="left")
        students = [view for view in views if isinstance(view, StudentView)]
        batch = collate_students(students, self.pad_id, self.builder.audio_format, padding_side="left")
        audio_guard(batch, self.builder.audio_format)
        return batch


def generation_inputs(adaptor: ModelAdaptor, batch: TextBatch) -> dict[str, Any]:
    """Keyword arguments of `generate` for one batch: ids, mask and (students) the audio features."""
    batch = batch.to(adaptor.device)
    inputs: dict[str, Any] = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if isinstance(batch, StudentBatch) and batch.input_features is not None:
        inputs["input_features"] = batch.input_features.to(adaptor.dtype)
        inputs["feature_attention_mask"] = batch.feature_attention_mask
    return inputs


def split_outputs(adaptor: ModelAdaptor, batch: TextBatch, new_ids: Tensor, stops: Sequence[int]
                  ) -> list[Generation]:
    """Cut each row of generated ids at its first stop token and decode what precedes it."""
    results: list[Generation] = []
    stop_set = set(stops)
    prompt_lengths = batch.attention_mask.sum(dim=1).tolist()
    for row, example_id in enumerate(batch.example_ids):
        ids = new_ids[row].tolist()
        end = next((i for i, t in enumerate(ids) if t in stop_set), None)
        kept = ids if end is None else ids[:end]
        text = adaptor.tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        results.append(Generation(example_id, text, int(prompt_lengths[row]),
                                  len(ids) if end is None else end + 1, end is not None))
    return results


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def generate_batch(adaptor: ModelAdaptor, batch: TextBatch, settings: DecodingSettings,
                   batch_index: int = 0) -> list[Generation]:
    """Generate for one left-padded batch; sampling is seeded from (settings.seed, batch_index)."""
    if bool((batch.attention_mask[:, -1] == 0).any()):
        raise GenerationError(f"batch of {', '.join(batch.example_ids)} is not left-padded: generation "
                              "would continue after padding")
    stops = stop_token_ids(adaptor)
    model = adaptor.hf_model
    inputs = generation_inputs(adaptor, batch)
    device = adaptor.device
    rng_devices = [device] if device.type == "cuda" else []
    with _eval_mode(model), torch.random.fork_rng(devices=rng_devices), torch.inference_mode():
        torch.manual_seed(batch_seed(settings.seed, batch_index))
        # Quiet: HF warns about a checkpoint's sampling defaults that greedy decoding deliberately ignores.
        with quiet_transformers():
            out = model.generate(**inputs, **settings.generate_kwargs(), eos_token_id=stops,
                                 pad_token_id=pad_token_id(adaptor.tokenizer))
    sequences = out if isinstance(out, Tensor) else out.sequences
    return split_outputs(adaptor, batch, sequences[:, batch.input_ids.shape[1]:].cpu(), stops)


def _progress(total: int, label: str, show: bool) -> tuple[Any, Any]:
    if not show:
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    return progress, progress.add_task(label, total=total)


def generate(
    adaptor: ModelAdaptor,
    examples: Sequence[Example],
    view: ViewName | None = None,
    settings: DecodingSettings | None = None,
    *,
    batch_size: int = 8,
    options: PromptOptions | None = None,
    show_progress: bool = False,
) -> list[Generation]:
    """One Generation per example, in the order of `examples`.

    `view` defaults to "prompt" for an audio student and "teacher" for a text LM. Greedy decoding
    unless `settings` says otherwise.
    """
    if batch_size < 1:
        raise GenerationError(f"batch_size must be >= 1, got {batch_size}")
    settings = settings or DecodingSettings()
    options = options or PromptOptions()
    view = view or default_view(adaptor)
    maker = PromptMaker(adaptor, view, options)
    if view == "teacher":
        check_descriptions(examples, options.description_field)
    if not examples:
        return []
    keys = [maker.length_key(example) for example in examples]
    order = sorted(range(len(examples)), key=lambda i: -keys[i])  # stable: ties keep input order
    results: list[Generation | None] = [None] * len(examples)
    progress, task = _progress(len(examples), f"generating ({view} view, {settings.mode})", show_progress)
    with progress:
        for batch_index, start in enumerate(range(0, len(order), batch_size)):
            chunk = order[start:start + batch_size]
            try:
                batch = maker.batch([examples[i] for i in chunk])
            except (ViewError, AudioGuardError) as exc:
                raise GenerationError(str(exc)) from None
            for index, result in zip(chunk, generate_batch(adaptor, batch, settings, batch_index),
                                     strict=True):
                results[index] = result
            if task is not None:
                progress.advance(task, len(chunk))
    return [r for r in results if r is not None]


def generate_texts(
    adaptor: ModelAdaptor,
    examples: Sequence[Example],
    view: ViewName | None = None,
    *,
    settings: DecodingSettings | None = None,
    batch_size: int = 8,
    options: PromptOptions | None = None,
    show_progress: bool = False,
) -> list[str]:
    """The generated texts only (one per example, input order); e.g. descriptions with view="describe"."""
    return [g.text for g in generate(adaptor, examples, view, settings, batch_size=batch_size,
                                     options=options, show_progress=show_progress)]
