"""The structured reasoning trace of CoTA / Audio-Reasoner, parsed into its parts and written back.

A trace reads `<THINK><PLANNING>..</PLANNING><CAPTION>..</CAPTION><REASONING>..</REASONING>
<SUMMARY>..</SUMMARY></THINK><RESPONSE>..</RESPONSE>`. Released CoTA conversions spell the outer
tag in lower case (`<think>`) and put newlines between the blocks, so parsing ignores tag case
and whitespace between and inside the blocks; every part is stripped. `format_trace` writes the
one canonical spelling (upper-case tags, no whitespace between blocks), so
`parse_trace(format_trace(t)) == t` and `format_trace(parse_trace(s)) == s` for canonical `s`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_PARTS: tuple[str, ...] = ("planning", "caption", "reasoning", "summary")


class TraceError(ValueError):
    """Text that is not a well-formed structured trace; the message says which tag is wrong."""


@dataclass(frozen=True)
class Trace:
    """The five parts of a structured trace (each stripped of surrounding whitespace)."""

    planning: str
    caption: str
    reasoning: str
    summary: str
    response: str


def _tag(name: str, closing: bool = False) -> str:
    return rf"<\s*{'/' if closing else ''}\s*{name}\s*>"


def _block(name: str) -> str:
    # Non-greedy body: a block ends at its first closing tag.
    return rf"{_tag(name)}(?P<{name}>.*?){_tag(name, closing=True)}"


_TRACE = re.compile(
    r"\s*" + _tag("think") + r"\s*"
    + r"\s*".join(_block(part) for part in THINK_PARTS)
    + r"\s*" + _tag("think", closing=True) + r"\s*"
    + _block("response") + r"\s*",
    re.IGNORECASE | re.DOTALL,
)

# Every tag in the order a trace must contain it: (name, closing).
_SEQUENCE: tuple[tuple[str, bool], ...] = (
    ("think", False),
    *((part, closing) for part in THINK_PARTS for closing in (False, True)),
    ("think", True),
    ("response", False),
    ("response", True),
)


def _diagnose(text: str) -> str:
    """Name the first tag that is missing or out of order, for an error a person can act on."""
    position = 0
    for name, closing in _SEQUENCE:
        pattern = re.compile(_tag(name, closing), re.IGNORECASE)
        found = pattern.search(text, position)
        if found is None:
            label = f"<{'/' if closing else ''}{name.upper()}>"
            return f"{label} is {'out of order' if pattern.search(text) else 'missing'}"
        position = found.end()
    return "text outside the tags (only whitespace may surround the blocks)"


def parse_trace(text: str) -> Trace:
    """Split a structured trace into its parts; raise TraceError naming the offending tag."""
    if not isinstance(text, str):
        raise TraceError(f"trace must be a string, got {type(text).__name__}")
    match = _TRACE.fullmatch(text)
    if match is None:
        raise TraceError(f"malformed reasoning trace: {_diagnose(text)}")
    return Trace(**{name: match.group(name).strip() for name in (*THINK_PARTS, "response")})


def format_trace(trace: Trace) -> str:
    """The canonical text of a trace: upper-case tags, no whitespace between blocks."""
    think = "".join(f"<{p.upper()}>{getattr(trace, p)}</{p.upper()}>" for p in THINK_PARTS)
    return f"<THINK>{think}</THINK><RESPONSE>{trace.response}</RESPONSE>"
