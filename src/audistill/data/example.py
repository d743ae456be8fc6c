"""The one Example schema every reader produces and every later stage consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Task = Literal["sound", "music", "speech"]
TASKS: tuple[str, ...] = ("sound", "music", "speech")
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")


@dataclass
class Example:
    """One audio question with its target.

    `audio` is a resolved path. `reasoning` is the structured target trace
    (`<THINK><PLANNING>..</PLANNING><CAPTION>..</CAPTION><REASONING>..</REASONING>
    <SUMMARY>..</SUMMARY></THINK><RESPONSE>..</RESPONSE>`); `description` is the text the
    textual teacher reads in place of the audio; `meta` is free-form ground truth that the
    student never sees.
    """

    id: str
    audio: str
    question: str
    choices: list[str]
    answer: str
    task: str
    sub_category: str = ""
    difficulty: str = ""
    category: str = ""
    split: str = ""
    reasoning: str | None = None
    description: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Fields a reader did not recognise (e.g. MMAU's `dataset`, a `model_output`), kept so that
    # writing an example back loses nothing.
    extra: dict[str, Any] = field(default_factory=dict)
    # Where the row came from: "file:line" (JSONL) or "file:index" (JSON lists), for error messages.
    origin: str = ""

    def to_jsonl_dict(self) -> dict[str, Any]:
        """Our JSONL row (origin dropped, empty optionals omitted, extra fields inlined)."""
        row = asdict(self)
        row.pop("origin")
        extra = row.pop("extra")
        kept = {k: v for k, v in row.items() if v not in (None, "", {}) or k in _REQUIRED}
        return {**kept, **{k: v for k, v in extra.items() if k not in kept}}


_REQUIRED = ("id", "audio", "question", "choices", "answer", "task")
# Every key of our JSONL schema; any other key of a row is kept in `Example.extra`.
JSONL_FIELDS: tuple[str, ...] = (
    *_REQUIRED, "sub_category", "difficulty", "category", "split", "reasoning", "description", "meta",
)
