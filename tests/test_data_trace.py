"""The structured CoTA trace: parsing into parts, the canonical inverse, and clear errors."""

from __future__ import annotations

import pytest

from audistill.data.trace import Trace, TraceError, format_trace, parse_trace

TRACE = Trace(
    planning="Listen for the instrument, then compare with the options.",
    caption="A bowed string instrument plays a slow melody in a low register.",
    reasoning="Low bowed strings point to a cello rather than a violin.",
    summary="The instrument is a cello.",
    response="Cello",
)


def test_format_then_parse_gives_the_same_trace() -> None:
    assert parse_trace(format_trace(TRACE)) == TRACE


def test_canonical_text_is_exactly_the_documented_layout() -> None:
    assert format_trace(Trace("p", "c", "r", "s", "a")) == (
        "<THINK><PLANNING>p</PLANNING><CAPTION>c</CAPTION><REASONING>r</REASONING>"
        "<SUMMARY>s</SUMMARY></THINK><RESPONSE>a</RESPONSE>"
    )
    canonical = format_trace(TRACE)
    assert format_trace(parse_trace(canonical)) == canonical


def test_released_spelling_with_lowercase_think_and_newlines_parses() -> None:
    text = (
        "<think>\n<PLANNING>\nplan here</PLANNING>\n<CAPTION>\ncap</CAPTION>\n<REASONING>\nstep 1\n"
        "step 2</REASONING>\n<SUMMARY>\nsum</SUMMARY>\n</think>\n<RESPONSE>\nThe answer is C.</RESPONSE>\n"
    )
    assert parse_trace(text) == Trace("plan here", "cap", "step 1\nstep 2", "sum", "The answer is C.")


def test_parts_may_hold_angle_brackets_and_newlines() -> None:
    trace = Trace("a < b", "x\n\ny", "if 3 > 2 then <maybe>", "s", "r")
    assert parse_trace(format_trace(trace)) == trace


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<THINK><PLANNING>p</PLANNING><REASONING>r</REASONING><SUMMARY>s</SUMMARY></THINK>"
         "<RESPONSE>a</RESPONSE>", "<CAPTION> is missing"),
        ("<THINK><PLANNING>p</PLANNING><CAPTION>c</CAPTION><REASONING>r</REASONING><SUMMARY>s</SUMMARY>"
         "</THINK><RESPONSE>a", "</RESPONSE> is missing"),
        ("<THINK><PLANNING>p</PLANNING><CAPTION>c</CAPTION><REASONING>r</REASONING><SUMMARY>s</SUMMARY>"
         "<RESPONSE>a</RESPONSE>", "</THINK> is missing"),
        ("Sure! <THINK><PLANNING>p</PLANNING><CAPTION>c</CAPTION><REASONING>r</REASONING>"
         "<SUMMARY>s</SUMMARY></THINK><RESPONSE>a</RESPONSE>", "text outside the tags"),
        ("<THINK><CAPTION>c</CAPTION><PLANNING>p</PLANNING><REASONING>r</REASONING><SUMMARY>s</SUMMARY>"
         "</THINK><RESPONSE>a</RESPONSE>", "out of order"),
        ("just an answer", "<THINK> is missing"),
    ],
)
def test_malformed_traces_name_the_offending_tag(text: str, message: str) -> None:
    with pytest.raises(TraceError, match="malformed reasoning trace") as caught:
        parse_trace(text)
    assert message in str(caught.value)
