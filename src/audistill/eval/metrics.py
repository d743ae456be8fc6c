"""Accuracy breakdowns, emotion unweighted accuracy (UA) and transcription word error rate (WER).

Which metric scores an item is read from its sub-category (lowercased, non-word characters
(underscores included) read as spaces, so "Emotion_Recognition" and "emotion recognition" are
alike):

- transcription items: the sub-category has the word "transcription", "transcribe" or "asr",
  or is "speech recognition". Their answer is a reference transcript, so they are scored by
  WER only and stay out of the accuracy counts (a word-set match is meaningless for free text).
- emotion items: the sub-category has the word "emotion" (e.g. "emotion", "emotion
  recognition", "Emotion Tone Reasoning"). They are multiple-choice items, so they count in
  accuracy like any other, and are additionally scored by UA over their answer classes.
- every other item: multiple choice, scored by MMAU's word-set rule (`audistill.eval.mmau`).

UA is the mean over the true classes present of each class's recall (the share of that class's
items recognised as that class). An emotion item is recognised as its class exactly when MMAU's
rule scores it correct: when choices differ as word sets at most one choice can match a
prediction, so "correct" and "the matched choice is the answer" coincide; a missing prediction
is a miss. A class is the answer's words (letters and digits) in order, lowercase, space-joined ("Happy!" and
"happy" are one class). With imbalanced classes UA differs from accuracy: a rare class weighs as
much as a frequent one.

WER is corpus-level: (substitutions + deletions + insertions) / reference words, summed over all
transcription items (jiwer), after the same normalisation on both sides: lowercase, apostrophes
dropped ("don't" -> "dont"), every other character that is not a letter, digit or underscore
turned into a space, whitespace collapsed. A missing prediction is an empty hypothesis (every
reference word a deletion).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import jiwer

from audistill.eval.mmau import is_missing, score_prediction
from audistill.eval.predictions import PredictionRecord

ItemKind = Literal["choice", "transcription"]

_WORD = re.compile(r"[^\W_]+")  # letters and digits; underscores separate like spaces
_NON_WORD = re.compile(r"[^\w\s]+")
_TRANSCRIPTION_WORDS = {"transcription", "transcribe", "asr"}
TASK_ORDER = ("sound", "music", "speech")
DIFFICULTY_ORDER = ("easy", "medium", "hard")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def item_kind(sub_category: str | None) -> ItemKind:
    """"transcription" for transcription sub-categories (scored by WER), else "choice"."""
    words = _words(sub_category or "")
    if _TRANSCRIPTION_WORDS.intersection(words) or words == ["speech", "recognition"]:
        return "transcription"
    return "choice"


def is_emotion_item(sub_category: str | None) -> bool:
    """True when the sub-category names emotion: such items are also scored by UA."""
    return "emotion" in _words(sub_category or "")


def class_label(text: str) -> str:
    """An emotion class key: the text's lowercase word tokens in order, space-joined."""
    return " ".join(_words(text))


@dataclass(frozen=True)
class UnweightedAccuracy:
    """UA with its per-class recalls (class -> (hits, items)) and the item count."""

    ua: float
    recalls: dict[str, tuple[int, int]]
    n: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ua": self.ua,
            "n": self.n,
            "classes": {c: {"recall": h / t, "correct": h, "n": t} for c, (h, t) in self.recalls.items()},
        }


def unweighted_accuracy(true: Sequence[str], predicted: Sequence[str | None]) -> UnweightedAccuracy:
    """Mean per-class recall over the classes in `true`; labels compared by `class_label`."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    if not true:
        raise ValueError("unweighted_accuracy needs at least one item")
    counts: dict[str, list[int]] = {}
    for gold, guess in zip(true, predicted, strict=True):
        key = class_label(gold)
        hit = guess is not None and class_label(guess) == key
        tally = counts.setdefault(key, [0, 0])
        tally[0] += int(hit)
        tally[1] += 1
    recalls = {key: (hits, total) for key, (hits, total) in sorted(counts.items())}
    ua = sum(hits / total for hits, total in recalls.values()) / len(recalls)
    return UnweightedAccuracy(ua=ua, recalls=recalls, n=len(true))


def normalise_transcript(text: str) -> str:
    """WER normalisation: lowercase, drop apostrophes, other punctuation to spaces, collapse spaces."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


@dataclass(frozen=True)
class WordErrorRate:
    """Corpus WER with its error counts."""

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    n: int
    missing: int

    def to_json(self) -> dict[str, Any]:
        return {
            "wer": self.wer,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "reference_words": self.reference_words,
            "n": self.n,
            "missing": self.missing,
        }


def word_error_rate(
    references: Sequence[str], hypotheses: Sequence[str | None], names: Sequence[str] | None = None
) -> WordErrorRate:
    """Corpus WER after `normalise_transcript`; None hypotheses are empty (and counted missing).

    `names` (one per item, e.g. "file[3]") label a reference that normalises to nothing.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("word_error_rate needs at least one item")
    refs = [normalise_transcript(r) for r in references]
    for index, ref in enumerate(refs):
        if not ref:
            name = names[index] if names else f"item {index}"
            raise ValueError(f"{name}: the reference transcript has no words")
    hyps = [normalise_transcript(h or "") for h in hypotheses]
    out = jiwer.process_words(refs, hyps)
    return WordErrorRate(
        wer=float(out.wer),
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        reference_words=out.substitutions + out.deletions + out.hits,
        n=len(refs),
        missing=sum(is_missing(h) for h in hypotheses),
    )


@dataclass
class Counts:
    """Correct, total and missing-prediction counts of one group; accuracy is a fraction."""

    correct: int = 0
    n: int = 0
    missing: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    def add(self, correct: bool, missing: bool) -> None:
        self.correct += int(correct)
        self.n += 1
        self.missing += int(missing)

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "correct": self.correct, "n": self.n, "missing": self.missing}


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome. `correct` is None for transcription items (scored by WER instead)."""

    record: PredictionRecord
    kind: ItemKind
    correct: bool | None
    missing: bool


@dataclass
class ScoreReport:
    """Accuracy overall and per task, difficulty and sub-category, plus emotion UA and WER."""

    overall: Counts
    task: dict[str, Counts]
    difficulty: dict[str, Counts]
    sub_category: dict[str, Counts]
    emotion: UnweightedAccuracy | None
    transcription: WordErrorRate | None
    items: list[ItemResult] = field(default_factory=list)

    def to_json(self, extended: bool = False) -> dict[str, Any]:
        """MMAU-style breakdowns; with `extended`, also "emotion" (UA) and "transcription" (WER).

        Keys of the plain form: "overall", "task", "difficulty", "sub-category". Extended
        sections are null when the file holds no such items.
        """
        out: dict[str, Any] = {
            "overall": self.overall.to_json(),
            "task": {k: v.to_json() for k, v in self.task.items()},
            "difficulty": {k: v.to_json() for k, v in self.difficulty.items()},
            "sub-category": {k: v.to_json() for k, v in self.sub_category.items()},
        }
        if extended:
            out["emotion"] = self.emotion.to_json() if self.emotion else None
            out["transcription"] = self.transcription.to_json() if self.transcription else None
        return out


def _ordered(groups: dict[str, Counts], first: Iterable[str]) -> dict[str, Counts]:
    head = [k for k in first if k in groups]
    tail = sorted(k for k in groups if k not in head)
    return {k: groups[k] for k in head + tail}


def score_records(records: Sequence[PredictionRecord]) -> ScoreReport:
    """Score every record and break the accuracy down; items lacking a grouping field skip that group."""
    overall = Counts()
    task: dict[str, Counts] = {}
    difficulty: dict[str, Counts] = {}
    sub_category: dict[str, Counts] = {}
    items: list[ItemResult] = []
    emotion_true: list[str] = []
    emotion_pred: list[str | None] = []
    transcripts: list[PredictionRecord] = []
    for record in records:
        if item_kind(record.sub_category) == "transcription":
            transcripts.append(record)
            items.append(ItemResult(record, "transcription", None, is_missing(record.prediction)))
            continue
        score = score_prediction(record.answer, record.prediction, record.choices)
        items.append(ItemResult(record, "choice", score.correct, score.missing))
        overall.add(score.correct, score.missing)
        for groups, key in ((task, record.task), (difficulty, record.difficulty),
                            (sub_category, record.sub_category)):
            if key is not None:
                groups.setdefault(key, Counts()).add(score.correct, score.missing)
        if is_emotion_item(record.sub_category):
            emotion_true.append(record.answer)
            emotion_pred.append(record.answer if score.correct else None)
    wer = None
    if transcripts:
        wer = word_error_rate(
            [r.answer for r in transcripts],
            [r.prediction for r in transcripts],
            [r.where for r in transcripts],
        )
    return ScoreReport(
        overall=overall,
        task=_ordered(task, TASK_ORDER),
        difficulty=_ordered(difficulty, DIFFICULTY_ORDER),
        sub_category=_ordered(sub_category, ()),
        emotion=unweighted_accuracy(emotion_true, emotion_pred) if emotion_true else None,
        transcription=wer,
        items=items,
    )
