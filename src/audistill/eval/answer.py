"""Take the final answer out of a model's generated text.

The training targets end in `<RESPONSE>answer</RESPONSE>` after the `<THINK>...</THINK>` trace, so
the answer is the text of the last RESPONSE block. Generation can stop at the token limit before
the closing tag, so a missing `</RESPONSE>` is tolerated. When no `<RESPONSE>` tag appears at all,
the whole output (stripped) is the answer: MMAU's word-set rule then decides on the full text.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"<\s*response\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*response\s*>", re.IGNORECASE)


def extract_answer(output: str) -> str:
    """The text inside the last `<RESPONSE>...</RESPONSE>` (closing tag optional), else the whole output.

    Tags match case-insensitively. The result is stripped of surrounding whitespace.
    """
    opens = list(_OPEN.finditer(output))
    if not opens:
        return output.strip()
    rest = output[opens[-1].end():]
    close = _CLOSE.search(rest)
    return (rest[: close.start()] if close else rest).strip()
