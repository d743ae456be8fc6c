"""The zoo's evaluation on the dev splits and its gates (greedy decoding, `audistill.eval.generate`).

Figures (fractions in [0, 1]; zoo.json keys):
- `student.wer`: corpus WER on the perception dev transcription items (`eval.metrics`).
- `student.emotion_ua`: unweighted accuracy on the perception dev emotion items (MMAU's word-set rule).
- `student.caption_accuracy`: share of perception dev sound and music captioning items whose answer
  equals the reference caption exactly after the WER normalisation (lowercase, punctuation dropped):
  every count, kind, attribute, contour, peak and tempo word must be right, in order.
- `student.describe_accuracy`: the same exact match for "describe what you hear" on the reasoning dev
  clips, against the heard description (the format the student is taught).
- `student.reasoning_accuracy`: MMAU accuracy of the student on the reasoning dev questions (expected
  low: it never learned to reason).
- `teacher.reasoning_accuracy_oracle`: the teacher on the reasoning dev questions, reading the oracle
  descriptions; `teacher.reasoning_accuracy_heard`: reading the heard descriptions built from the
  ground truth (the best a perfect student could give it); `teacher.reasoning_accuracy_student_descriptions`:
  reading the student's own descriptions (the quality of the textualization).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audistill.data.example import Example
from audistill.eval.answer import extract_answer
from audistill.eval.generate import DecodingSettings, Generation, PromptOptions, generate
from audistill.eval.metrics import ScoreReport, normalise_transcript, score_records
from audistill.eval.predictions import parse_records
from audistill.eval.run import prediction_rows
from audistill.io import atomic_write_json
from audistill.models.adaptor import AudioStudentAdaptor, TextLMAdaptor
from audistill.models.zoo.texts import heard_description, oracle_text

PERCEPTION_MAX_NEW_TOKENS = 48
ANSWER_MAX_NEW_TOKENS = 64
DESCRIBE_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class Gate:
    key: str
    op: str  # "<=" or ">="
    threshold: float

    def passed(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.threshold if self.op == "<=" else value >= self.threshold


GATES: tuple[Gate, ...] = (
    Gate("student.wer", "<=", 0.20),
    Gate("student.emotion_ua", ">=", 0.70),
    Gate("student.caption_accuracy", ">=", 0.70),
    Gate("teacher.reasoning_accuracy_oracle", ">=", 0.90),
)
REPORTED: tuple[str, ...] = ("student.reasoning_accuracy", "student.describe_accuracy",
                             "teacher.reasoning_accuracy_heard",
                             "teacher.reasoning_accuracy_student_descriptions")


def exact_match(reference: str, prediction: str | None) -> bool:
    """Equal after the WER normalisation (lowercase, apostrophes dropped, punctuation to spaces)."""
    return prediction is not None and normalise_transcript(reference) == normalise_transcript(prediction)


def _is_caption(example: Example) -> bool:
    return example.sub_category in ("sound captioning", "music captioning")


class ZooEvaluation:
    """Runs every evaluation set once and keeps the figures and each set's predictions."""

    def __init__(self, student: AudioStudentAdaptor, teacher: TextLMAdaptor, system_prompt: str,
                 batch_size: int, teacher_max_new_tokens: int, out_dir: Path | None = None,
                 progress: Any | None = None) -> None:
        self.student = student
        self.teacher = teacher
        self.options = PromptOptions(system_prompt=system_prompt)
        self.batch_size = batch_size
        self.teacher_max_new_tokens = teacher_max_new_tokens
        self.out_dir = out_dir
        self.progress = progress
        self.figures: dict[str, dict[str, float | None]] = {"student": {}, "teacher": {}}
        self.counts: dict[str, int] = {}

    def _generate(self, name: str, adaptor: Any, examples: Sequence[Example], view: str,
                  max_new_tokens: int) -> list[Generation]:
        bar = self.progress.add_task(f"eval: {name}", total=1, losses="") if self.progress else None
        generations = generate(adaptor, examples, view,  # type: ignore[arg-type]
                               DecodingSettings(mode="greedy", max_new_tokens=max_new_tokens),
                               batch_size=self.batch_size, options=self.options)
        if self.progress is not None:
            self.progress.update(bar, advance=1)
        self.counts[name] = len(examples)
        return generations

    def _score(self, name: str, examples: Sequence[Example], generations: Sequence[Generation]
               ) -> ScoreReport:
        base = Path(examples[0].audio).parent if examples else Path(".")
        rows = prediction_rows(examples, generations, base)
        if self.out_dir is not None:
            atomic_write_json(self.out_dir / f"{name}.json", rows)
        return score_records(parse_records(rows, name))

    def perception(self, examples: Sequence[Example]) -> None:
        generations = self._generate("student_perception", self.student, examples, "prompt",
                                     PERCEPTION_MAX_NEW_TOKENS)
        report = self._score("student_perception", examples, generations)
        fig = self.figures["student"]
        fig["wer"] = report.transcription.wer if report.transcription else None
        fig["emotion_ua"] = report.emotion.ua if report.emotion else None
        hits = [exact_match(e.answer, extract_answer(g.text))
                for e, g in zip(examples, generations, strict=True) if _is_caption(e)]
        fig["caption_accuracy"] = sum(hits) / len(hits) if hits else None
        self.counts["caption_items"] = len(hits)

    def reasoning(self, examples: Sequence[Example]) -> None:
        student = self._generate("student_reasoning", self.student, examples, "prompt", ANSWER_MAX_NEW_TOKENS)
        self.figures["student"]["reasoning_accuracy"] = self._score(
            "student_reasoning", examples, student).overall.accuracy
        described = self._generate("student_describe", self.student, examples, "describe",
                                   DESCRIBE_MAX_NEW_TOKENS)
        descriptions = [g.text.strip() for g in described]
        hits = [exact_match(heard_description(e.meta), d)
                for e, d in zip(examples, descriptions, strict=True)]
        self.figures["student"]["describe_accuracy"] = sum(hits) / len(hits) if hits else None
        readings = {
            "oracle": [oracle_text(e.meta) for e in examples],
            "heard": [heard_description(e.meta) for e in examples],
            "student_descriptions": descriptions,
        }
        for name, texts in readings.items():
            with_text = [replace(e, description=t) for e, t in zip(examples, texts, strict=True)]
            generations = self._generate(f"teacher_{name}", self.teacher, with_text, "teacher",
                                         self.teacher_max_new_tokens)
            report = self._score(f"teacher_{name}", with_text, generations)
            self.figures["teacher"][f"reasoning_accuracy_{name}"] = report.overall.accuracy

    def value(self, key: str) -> float | None:
        side, name = key.split(".", 1)
        return self.figures[side].get(name)

    def gates(self) -> list[dict[str, Any]]:
        return [{"key": g.key, "op": g.op, "threshold": g.threshold, "value": self.value(g.key),
                 "passed": g.passed(self.value(g.key))} for g in GATES]
