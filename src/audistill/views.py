"""Two views of one Example: what the student hears and what the textual teacher reads, same target.

Student:  chat(system, user = <audio placeholder expanded to one token per encoder frame> + question +
          choices) + target
Teacher:  chat(system, user = "Audio description: <description>" + question + choices) + target
Target:   the Example's structured reasoning trace (or `<RESPONSE>answer</RESPONSE>` when it has none)
          followed by the end-of-turn token (`<|im_end|>` in ChatML).

Each side's prompt is rendered with its own tokenizer's chat template (ChatML when it has none) and
tokenized on its own; the target is tokenized separately and appended, so no merge crosses the
prompt/target boundary. Labels hold the target ids and -100 elsewhere. For every pair the two targets
must be the same ids; a tokenizer that splits the target differently stops with the example id and the
first differing token (cross-tokenizer distillation is later work).

The audio guard checks every student batch: features present and non-empty, and exactly as many audio
placeholder tokens as the encoder will emit for the clip; otherwise the batch never reaches a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from audistill.data.audio import AudioError, load_audio
from audistill.data.example import Example
from audistill.models.adaptor import AudioFormat, AudioStudentAdaptor, ModelAdaptor
from audistill.models.batch import IGNORE_INDEX, StudentBatch, TextBatch

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
DESCRIBE_PROMPT = (
    "Describe what you hear in this audio in detail: the sound sources and events, any speech (what is "
    "said, by whom, and in which tone and emotion), any music (instruments, genre, tempo, mood), and the "
    "acoustic setting."
)
DESCRIPTION_PREFIX = "Audio description: "

_CHATML_SYSTEM = "<|im_start|>system\n{system}<|im_end|>\n"
_CHATML_TURN = "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


class ViewError(ValueError):
    """An example that cannot be turned into a view; the message names the example id and its origin."""


class AlignmentError(ViewError):
    """Student and teacher targets differ; the message names the example and the first differing token."""


class AudioGuardError(ValueError):
    """A student batch whose audio would not reach the model; the message lists the example ids."""


def _where(example: Example) -> str:
    return f"example {example.id!r}" + (f" ({example.origin})" if example.origin else "")


def question_text(example: Example) -> str:
    """The question and its choices as the user turn states them (after the audio or its description)."""
    lines = [example.question.strip()]
    if example.choices:
        lines.append("Choose one of the following options:")
        lines.extend(str(choice) for choice in example.choices)
    return "\n".join(lines)


def target_text(example: Example) -> str:
    """What both models are taught to produce: the reasoning trace, else the bare wrapped answer."""
    if example.reasoning and example.reasoning.strip():
        return example.reasoning
    return f"<RESPONSE>{example.answer}</RESPONSE>"


def description_of(example: Example, field: str = "description") -> str:
    """The text the teacher reads in place of the audio: an Example attribute or a `meta` key."""
    known = field in Example.__dataclass_fields__
    value = getattr(example, field) if known else example.meta.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ViewError(f"{_where(example)}: no audio description (field {field!r}) for the textual teacher; "
                        "run `audistill textualize` or set textual_teacher.description_field")
    return value.strip()


def end_of_turn(tokenizer: Any) -> tuple[str, int]:
    """The token that closes an assistant turn: `<|im_end|>` (ChatML) when the tokenizer has it, else eos."""
    token = "<|im_end|>"
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        token, token_id = tokenizer.eos_token, tokenizer.eos_token_id
    if token_id is None:
        raise ViewError(f"{getattr(tokenizer, 'name_or_path', 'tokenizer')}: no end-of-turn token "
                        "(neither <|im_end|> nor an eos token)")
    return token, int(token_id)


def render_prompt(tokenizer: Any, system: str, user: str) -> str:
    """System and user turns plus the assistant header, by the tokenizer's chat template (ChatML if none)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _CHATML_SYSTEM.format(system=system) + _CHATML_TURN.format(user=user)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class TextView:
    """One tokenized sequence: prompt + target, labels -100 outside the target."""

    example_id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def target_ids(self) -> list[int]:
        return [t for t in self.labels if t != IGNORE_INDEX]


@dataclass
class StudentView(TextView):
    """A text view plus the clip's log-mel features ([n_mels, F], padded to the window) and frame mask."""

    input_features: Tensor | None = None
    feature_attention_mask: Tensor | None = None
    audio_tokens: int = 0


@dataclass
class ViewPair:
    student: StudentView
    teacher: TextView | None


@dataclass
class PairBatch:
    student: StudentBatch
    teacher: TextBatch | None

    @property
    def example_ids(self) -> list[str]:
        return self.student.example_ids


def check_alignment(example_id: str, student: TextView, teacher: TextView, student_tokenizer: Any,
                    teacher_tokenizer: Any) -> None:
    """Both targets must be the same token ids; else AlignmentError naming the first differing token."""
    s_ids, t_ids = student.target_ids, teacher.target_ids
    if s_ids == t_ids:
        return
    pairs = zip(s_ids, t_ids, strict=False)
    k = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(s_ids), len(t_ids)))

    def show(tokenizer: Any, ids: list[int]) -> str:
        if k >= len(ids):
            return "<end of target>"
        return f"id {ids[k]} {tokenizer.convert_ids_to_tokens(ids[k])!r}"

    raise AlignmentError(
        f"example {example_id!r}: student and teacher tokenizers split the target differently "
        f"({len(s_ids)} vs {len(t_ids)} target tokens); first difference at target token {k}: student "
        f"{show(student_tokenizer, s_ids)}, teacher {show(teacher_tokenizer, t_ids)}. The teacher must "
        "share the student's tokenizer (cross-tokenizer distillation is not supported).")


class ViewBuilder:
    """Builds student and teacher views of Examples and collates them into batches.

    `student_tokenizer` and `audio_format` come from the student adaptor (`ViewBuilder.for_models`);
    `teacher_tokenizer` is None when no textual teacher runs. `max_length` bounds every sequence
    (student.max_length).
    """

    def __init__(
        self,
        student_tokenizer: Any,
        audio_format: AudioFormat,
        teacher_tokenizer: Any | None = None,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        description_field: str = "description",
        max_length: int | None = None,
        guard: bool = True,
    ) -> None:
        self.student_tokenizer = student_tokenizer
        self.teacher_tokenizer = teacher_tokenizer
        self.audio_format = audio_format
        self.system_prompt = system_prompt
        self.description_field = description_field
        self.max_length = max_length
        self.guard = guard
        self.student_pad_id = _pad_id(student_tokenizer)
        self.teacher_pad_id = _pad_id(teacher_tokenizer) if teacher_tokenizer is not None else 0

    @classmethod
    def for_models(cls, student: AudioStudentAdaptor, teacher: ModelAdaptor | None = None,
                   **kwargs: Any) -> ViewBuilder:
        return cls(student.tokenizer, student.audio_format,
                   teacher.tokenizer if teacher is not None else None, **kwargs)

    # ---- pieces -----------------------------------------------------------------------------------
    def target_ids(self, tokenizer: Any, example: Example) -> list[int]:
        return [*_encode(tokenizer, target_text(example)), end_of_turn(tokenizer)[1]]

    def audio_features(self, example: Example) -> tuple[Tensor, Tensor]:
        """([n_mels, F] log-mel features padded to the window, [F] mask of real frames) of the clip."""
        fe = self.audio_format.feature_extractor
        try:
            wave = load_audio(example.audio, self.audio_format.sampling_rate)
        except AudioError as exc:
            raise ViewError(f"{_where(example)}: {exc}") from None
        feats = fe(wave, sampling_rate=self.audio_format.sampling_rate, return_attention_mask=True,
                   padding="max_length", return_tensors="pt")
        return feats["input_features"][0], feats["attention_mask"][0].long()

    def _check_length(self, example: Example, side: str, ids: list[int]) -> None:
        if self.max_length is not None and len(ids) > self.max_length:
            raise ViewError(f"{_where(example)}: the {side} sequence is {len(ids)} tokens, longer than "
                            f"student.max_length ({self.max_length})")

    # ---- views ------------------------------------------------------------------------------------
    def student_view(self, example: Example, *, with_target: bool = True, user_text: str | None = None
                     ) -> StudentView:
        """Audio placeholder (expanded) + question (or `user_text`) [+ target]."""
        fmt = self.audio_format
        features, frames_mask = self.audio_features(example)
        n_audio = fmt.tokens_for_frames(int(frames_mask.sum()))
        user = fmt.placeholder + (user_text if user_text is not None else question_text(example))
        tok = self.student_tokenizer
        prompt = _encode(tok, render_prompt(tok, self.system_prompt, user))
        slots = [i for i, t in enumerate(prompt) if t == fmt.audio_token_id]
        if len(slots) != 1:
            raise ViewError(f"{_where(example)}: the student prompt holds {len(slots)} audio tokens "
                            f"{fmt.audio_token!r}, expected exactly one before expansion")
        at = slots[0]
        prompt = prompt[:at] + [fmt.audio_token_id] * n_audio + prompt[at + 1:]
        target = self.target_ids(self.student_tokenizer, example) if with_target else []
        ids = prompt + target
        self._check_length(example, "student", ids)
        return StudentView(example.id, ids, [IGNORE_INDEX] * len(prompt) + target, features, frames_mask,
                           n_audio)

    def prompt_view(self, example: Example) -> StudentView:
        """The student's prompt without a target, for generation (evaluation)."""
        return self.student_view(example, with_target=False)

    def describe_view(self, example: Example, prompt: str = DESCRIBE_PROMPT) -> StudentView:
        """The student asked to describe the clip (textualization), without a target."""
        return self.student_view(example, with_target=False, user_text=prompt)

    def teacher_view(self, example: Example) -> TextView:
        """Description + question + target, for the textual teacher."""
        if self.teacher_tokenizer is None:
            raise ViewError("no textual teacher tokenizer: the view builder was made without a teacher")
        user = DESCRIPTION_PREFIX + description_of(example, self.description_field) + "\n" + \
            question_text(example)
        tok = self.teacher_tokenizer
        prompt = _encode(tok, render_prompt(tok, self.system_prompt, user))
        target = self.target_ids(self.teacher_tokenizer, example)
        ids = prompt + target
        self._check_length(example, "teacher", ids)
        return TextView(example.id, ids, [IGNORE_INDEX] * len(prompt) + target)

    def pair(self, example: Example) -> ViewPair:
        """Both views of one example, with the targets checked to be identical ids."""
        student = self.student_view(example)
        if self.teacher_tokenizer is None:
            return ViewPair(student, None)
        teacher = self.teacher_view(example)
        check_alignment(example.id, student, teacher, self.student_tokenizer, self.teacher_tokenizer)
        return ViewPair(student, teacher)

    # ---- batches ----------------------------------------------------------------------------------
    def collate(self, pairs: Sequence[ViewPair]) -> PairBatch:
        """Right-padded student and teacher batches of `pairs`; the audio guard runs on the student side."""
        student = collate_students([p.student for p in pairs], self.student_pad_id, self.audio_format)
        if self.guard:
            audio_guard(student, self.audio_format)
        teachers = [p.teacher for p in pairs]
        if all(t is None for t in teachers):
            return PairBatch(student, None)
        if any(t is None for t in teachers):
            raise ViewError("a batch mixes examples with and without a teacher view")
        return PairBatch(student, collate_texts([t for t in teachers if t is not None], self.teacher_pad_id))

    def batch(self, examples: Sequence[Example]) -> PairBatch:
        """Views of `examples`, collated (what a training DataLoader's collate_fn returns)."""
        return self.collate([self.pair(e) for e in examples])


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def _pad_rows(rows: Sequence[list[int]], value: int, side: str) -> Tensor:
    width = max(len(r) for r in rows)
    padded = [([value] * (width - len(r)) + r) if side == "left" else (r + [value] * (width - len(r)))
              for r in rows]
    return torch.tensor(padded, dtype=torch.long)


def collate_texts(views: Sequence[TextView], pad_id: int, padding_side: str = "right") -> TextBatch:
    """Pad text views into a TextBatch (right padding for training, left for generation)."""
    if not views:
        raise ValueError("cannot collate an empty list of views")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be left or right, got {padding_side!r}")
    ids = [v.input_ids for v in views]
    return TextBatch(
        input_ids=_pad_rows(ids, pad_id, padding_side),
        attention_mask=_pad_rows([[1] * len(r) for r in ids], 0, padding_side),
        labels=_pad_rows([v.labels for v in views], IGNORE_INDEX, padding_side),
        example_ids=[v.example_id for v in views],
    )


def collate_students(views: Sequence[StudentView], pad_id: int, audio_format: AudioFormat,
                     padding_side: str = "right") -> StudentBatch:
    """Pad student views into a StudentBatch; features are stacked ([B, n_mels, F])."""
    text = collate_texts(views, pad_id, padding_side)
    features = [v.input_features for v in views]
    masks = [v.feature_attention_mask for v in views]
    input_features = feature_mask = None
    if all(f is not None for f in features) and all(m is not None for m in masks):
        shapes = {tuple(f.shape) for f in features if f is not None}
        if len(shapes) != 1:
            raise ViewError(f"audio features of different shapes in one batch: {sorted(shapes)}")
        input_features = torch.stack([f for f in features if f is not None])
        feature_mask = torch.stack([m for m in masks if m is not None])
    return StudentBatch(
        input_ids=text.input_ids,
        attention_mask=text.attention_mask,
        labels=text.labels,
        example_ids=text.example_ids,
        input_features=input_features,
        feature_attention_mask=feature_mask,
        audio_mask=(text.input_ids == audio_format.audio_token_id) & text.attention_mask.bool(),
    )


def audio_guard(batch: StudentBatch, audio_format: AudioFormat) -> None:
    """Stop unless every example carries non-empty audio features and exactly the audio tokens they need.

    The known failure this prevents: audio that silently never reaches the model (no features, or the
    placeholder not expanded) while the loss still falls on the text alone.
    """
    problems: list[str] = []
    token_counts = (batch.input_ids == audio_format.audio_token_id).sum(dim=1).tolist()
    for row, example_id in enumerate(batch.example_ids):
        found = int(token_counts[row])
        if batch.input_features is None or batch.feature_attention_mask is None:
            problems.append(f"{example_id}: no audio features in the batch")
            continue
        frames = int(batch.feature_attention_mask[row].sum())
        expected = audio_format.tokens_for_frames(frames)
        if frames == 0:
            problems.append(f"{example_id}: empty audio features (0 mel frames)")
        elif not bool(batch.input_features[row, :, :frames].ne(0).any()):
            problems.append(f"{example_id}: audio features are all zero")
        elif found == 0:
            problems.append(f"{example_id}: no audio placeholder tokens (the audio would never reach "
                            "the model)")
        elif found != expected:
            problems.append(f"{example_id}: {found} audio placeholder tokens, but its {frames} mel "
                            f"frames give {expected} encoder outputs (placeholder not expanded as the "
                            "processor does)")
        elif batch.audio_mask is not None and int(batch.audio_mask[row].sum()) != found:
            problems.append(f"{example_id}: audio_mask marks {int(batch.audio_mask[row].sum())} positions, "
                            f"input_ids hold {found} audio tokens")
    if problems:
        raise AudioGuardError(f"audio guard: {len(problems)} of {len(batch.example_ids)} example(s) would "
                              "train without their audio:\n  " + "\n  ".join(problems))
