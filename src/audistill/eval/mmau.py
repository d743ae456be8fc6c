"""MMAU's word-set answer rule, replicated from the benchmark's official `evaluation.py`.

Source: `evaluation.py` of github.com/Sakshi113/MMAU (the script the MMAU README tells users to
run: `python evaluation.py --input INPUT_JSON_PATH`, reading the key `model_prediction`). What
each part here mirrors, statement by statement:

- `tokenize` mirrors the inner `tokenize(text)` of `string_match`:
  `set(re.findall(r'\\b\\w+\\b', text.lower()))`. Lowercase, then every maximal run of word
  characters (Python's Unicode `\\w`: letters, digits, underscore) is a token. All other
  characters (spaces, punctuation, apostrophes, hyphens, slashes, brackets) only separate
  tokens: "men's" -> {"men", "s"}, "half-step" -> {"half", "step"}, "(A) Country" ->
  {"a", "country"}. Tokens form a set: order and repetition do not matter.
- `string_match` mirrors `string_match(answer, prediction, choices)`:
  1. `if not prediction_tokens: return False` - a prediction without a single word is wrong.
  2. `incorrect_tokens` is the union, over every choice whose token set differs from the
     answer's (`if choice_tokens != answer_tokens`), of `choice_tokens - answer_tokens`: the
     words that only wrong choices have. Words shared with the answer never count against it.
  3. `cond1 = answer_tokens.issubset(prediction_tokens)`: every answer word is predicted.
  4. `cond2 = prediction_tokens.isdisjoint(incorrect_tokens)`: no wrong-choice-only word is.
  5. `return cond1 and cond2`.
  Consequences kept on purpose, because they are MMAU's: extra words that no choice has are
  allowed ("the answer is dog" is right for "Dog"); a prediction naming the answer and a wrong
  choice is wrong; an answer written "(A) Country" needs the word "a" in the prediction.

Deliberate differences (all in `score_prediction`, none in the rule itself):

- Missing predictions. The official main loop starts with
  `if output_key not in sample: continue`, so an item without the key is dropped from every
  count (and its `no_pred_count += 1` branch right after is unreachable, so "No prediction
  count" always prints 0). Here such an item is scored wrong, stays in the denominator, and is
  counted as `missing`.
- `None` predictions: the official script would crash in `text.lower()`; here they are missing.
- Empty or whitespace-only predictions: the official script scores them wrong (rule 1) but does
  not count them anywhere; here they are wrong and also counted as missing.
- Non-string answers, choices or predictions make the official script crash with a bare
  traceback; our file reader (`audistill.eval.metrics`) rejects them with the file and index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\b\w+\b")


def tokenize(text: str) -> set[str]:
    """MMAU's tokens: the set of lowercase `\\b\\w+\\b` matches."""
    return set(_WORD.findall(text.lower()))


def wrong_choice_words(answer: str, choices: Sequence[str]) -> set[str]:
    """Words that only wrong choices have (MMAU's `incorrect_tokens`)."""
    answer_tokens = tokenize(answer)
    words: set[str] = set()
    for choice in choices:
        choice_tokens = tokenize(choice)
        if choice_tokens != answer_tokens:
            words |= choice_tokens - answer_tokens
    return words


def string_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    """MMAU's rule: every answer word in the prediction, and no word that only a wrong choice has."""
    prediction_tokens = tokenize(prediction)
    if not prediction_tokens:
        return False
    return tokenize(answer) <= prediction_tokens and prediction_tokens.isdisjoint(
        wrong_choice_words(answer, choices)
    )


@dataclass(frozen=True)
class ItemScore:
    """How one item scored: `missing` items (no prediction) are never correct."""

    correct: bool
    missing: bool


def is_missing(prediction: str | None) -> bool:
    """No prediction: None, empty or whitespace only."""
    return prediction is None or not prediction.strip()


def score_prediction(answer: str, prediction: str | None, choices: Sequence[str]) -> ItemScore:
    """Score one item by MMAU's rule, counting a missing prediction as wrong (unlike MMAU)."""
    if prediction is None or is_missing(prediction):
        return ItemScore(correct=False, missing=True)
    return ItemScore(correct=string_match(answer, prediction, choices), missing=False)
