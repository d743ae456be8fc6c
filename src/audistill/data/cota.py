"""CoTA / Audio-Reasoner training rows.

Audio-Reasoner (arXiv 2503.02318) was trained with ms-swift on CoTA, and copies of CoTA circulate
in the chat layouts of the common SFT tools. One row is one single-turn conversation about one
audio clip; all three layouts are read:

- ms-swift: `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}], "audios": [path]}`;
  `content` is text, or a list of parts `{"type": "text", "text": ...}` / `{"type": "audio",
  "audio": path}` (the layout of Audio-Reasoner's own inference script);
- ShareGPT: `{"conversations": [{"from": "human"|"gpt"|"system", "value": ...}], "audio": path}`;
- LLaMA-Factory alpaca: `{"instruction": ..., "input": "<audio>", "output": ..., "audio_path": path}`.

The audio path may sit in `audios` (a one-element list), `audio`, `audio_path` or an audio part.
`<audio>` placeholders are removed from the question. The assistant's text is the structured
trace `<THINK>..</THINK><RESPONSE>..</RESPONSE>` (kept as `reasoning`, and parsed, so a malformed
trace is a bad row); a plain assistant text without trace tags is taken as the answer.

CoTA questions are mostly open-ended, with any options written into the question text. So
`choices` is optional (an explicit `choices` list is read when present; otherwise it is empty and
the item is open-ended), and `answer` is an explicit `answer` (or `solution`) field when present,
else the RESPONSE part of the trace. Open-ended items need a non-empty answer; the answer-in-choices
check applies only when choices are given. CoTA carries no task label, so every row needs a
`task` field (sound | music | speech), which evaluation groups by: rows without one are reported.
A row without an `id` gets `<file stem>-<line or index>`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from audistill.data.example import Example
from audistill.data.fields import (
    RowProblem,
    identifier,
    mapping,
    optional_string,
    resolve_audio,
    string,
    string_list,
)
from audistill.data.rows import Reason
from audistill.data.trace import TraceError, parse_trace

COTA_KEYS: tuple[str, ...] = ("messages", "conversations", "instruction")
_AUDIO_KEYS: tuple[str, ...] = ("audios", "audio", "audio_path")
_OWN_KEYS = (
    *COTA_KEYS, *_AUDIO_KEYS, "input", "output", "system", "history", "id", "task", "choices", "answer",
    "solution", "sub_category", "difficulty", "category", "split", "description", "meta",
)
_PLACEHOLDER = re.compile(r"<\s*audio\s*>", re.IGNORECASE)
_TRACE_TAG = re.compile(r"<\s*/?\s*(think|response)\s*>", re.IGNORECASE)
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def looks_like_cota(row: dict[str, Any]) -> bool:
    return "messages" in row or "conversations" in row or ("instruction" in row and "output" in row)


def _bad(message: str) -> RowProblem:
    return RowProblem(Reason.BAD_CONVERSATION, message)


def _content(content: Any, where: str, audios: list[str]) -> str:
    """The text of one turn; audio parts are appended to `audios`."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"{where} content must be text or a list of parts, got {type(content).__name__}")
    texts: list[str] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "audio" and isinstance(part.get("audio"), str):
            audios.append(part["audio"])
        else:
            raise _bad(f"{where} part {index} must be {{'type': 'text'|'audio', ...}} with a string value")
    return "\n".join(texts)


def _turns(row: dict[str, Any], audios: list[str]) -> list[tuple[str, str]]:
    """(role, text) of every turn, roles normalised to system/user/assistant."""
    if "instruction" in row and "messages" not in row and "conversations" not in row:
        prompt = string(row, "instruction")
        extra_input = optional_string(row, "input")
        if extra_input:
            prompt = f"{prompt}\n{extra_input}"
        if row.get("history"):
            raise _bad("'history' holds earlier turns; only single-turn rows are supported")
        turns = [("user", prompt), ("assistant", string(row, "output"))]
        system = optional_string(row, "system")
        return [("system", system), *turns] if system else turns
    key, role_key, text_key = (
        ("messages", "role", "content") if "messages" in row else ("conversations", "from", "value")
    )
    turns_raw = row[key]
    if not isinstance(turns_raw, list) or not turns_raw:
        raise _bad(f"'{key}' must be a non-empty list of turns")
    turns: list[tuple[str, str]] = []
    for index, turn in enumerate(turns_raw):
        where = f"'{key}[{index}]'"
        if not isinstance(turn, dict):
            raise _bad(f"{where} must be an object")
        role = _ROLES.get(str(turn.get(role_key, "")).lower())
        if role is None:
            raise _bad(f"{where} has unknown {role_key} {turn.get(role_key)!r}")
        turns.append((role, _content(turn.get(text_key), where, audios)))
    return turns


def _audio_path(row: dict[str, Any], from_parts: list[str]) -> str:
    paths = list(from_parts)
    for key in _AUDIO_KEYS:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            paths.append(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            paths.extend(value)
        else:
            raise RowProblem(Reason.WRONG_TYPE, f"'{key}' must be a path or a list of paths")
    unique = list(dict.fromkeys(paths))
    if not unique:
        raise RowProblem(Reason.MISSING_FIELD, "missing audio path (one of 'audios', 'audio', 'audio_path')")
    if len(unique) > 1:
        raise _bad(f"one audio clip per row is supported, found {len(unique)}")
    return unique[0]


def _default_id(origin: str) -> str:
    path, _, position = origin.rpartition(":")
    return f"{Path(path).stem}-{position}"


def _task(row: dict[str, Any]) -> str:
    if row.get("task") is None:
        raise RowProblem(
            Reason.MISSING_FIELD, "missing required field 'task' (sound|music|speech; CoTA has none, add it)"
        )
    return string(row, "task")


def cota_example(row: dict[str, Any], origin: str, audio_base: Path) -> Example:
    audios: list[str] = []
    turns = _turns(row, audios)
    system = [text for role, text in turns if role == "system"]
    dialogue = [(role, text) for role, text in turns if role != "system"]
    if [role for role, _ in dialogue] != ["user", "assistant"]:
        roles = ", ".join(role for role, _ in dialogue) or "none"
        raise _bad(f"expected one user turn then one assistant turn, got: {roles}")
    question = _PLACEHOLDER.sub("", dialogue[0][1]).strip()
    output = dialogue[1][1].strip()

    reasoning: str | None = None
    response = output
    if _TRACE_TAG.search(output):
        try:
            response = parse_trace(output).response
        except TraceError as exc:
            raise RowProblem(Reason.BAD_TRACE, f"assistant turn: {exc}") from None
        reasoning = output
    answer = optional_string(row, "answer", "solution")
    extra = {k: v for k, v in row.items() if k not in _OWN_KEYS}
    if system:
        extra["system"] = "\n".join(system)
    return Example(
        id=identifier(row) if row.get("id") is not None else _default_id(origin),
        audio=resolve_audio(_audio_path(row, audios), audio_base),
        question=question,
        choices=string_list(row, "choices", required=False),
        answer=answer if answer is not None else response,
        task=_task(row),
        sub_category=optional_string(row, "sub_category") or "",
        difficulty=optional_string(row, "difficulty") or "",
        category=optional_string(row, "category") or "",
        split=optional_string(row, "split") or "",
        reasoning=reasoning,
        description=optional_string(row, "description"),
        meta=mapping(row, "meta"),
        extra=extra,
        origin=origin,
    )
