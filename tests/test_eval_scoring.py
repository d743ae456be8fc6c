"""MMAU word-set scoring: answer extraction, the rule on hand-verified items, file reading, `score` CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audistill.cli import app
from audistill.eval.answer import extract_answer
from audistill.eval.metrics import score_records
from audistill.eval.mmau import score_prediction, string_match, tokenize, wrong_choice_words
from audistill.eval.predictions import PredictionFileError, load_predictions, parse_records

SPEAKER = ["Man", "Woman", "Child", "Robot"]
DOORS = ["Car door", "House door", "Cabinet door", "Elevator door"]
GENRES = ["Persian folk and pop", "Persian folk and opera", "Jazz and opera", "Classical and rock"]
RAIN = ["Rain", "Rain and thunder", "Wind"]
LOCKER = ["A classroom during a lecture", "A men's locker room post-exercise", "A formal office meeting"]
COUNTRY = ["Country", "French nouveau swing", "Jazz", "Blues"]
COUNTS = ["2", "3", "4"]
MUSIC = ["Radio", "Live band", "TV", "Smartphone"]

# (answer, choices, prediction, correct, why). Each verdict worked out by hand from the rule:
# correct <=> prediction has a word, holds every answer word, and no word only a wrong choice has.
CASES: list[tuple[str, list[str], str, bool, str]] = [
    ("Man", SPEAKER, "Man", True, "exact answer"),
    ("Man", SPEAKER, "MAN.", True, "case and trailing punctuation are not words"),
    ("Man", SPEAKER, "The speaker is a man!", True, "extra words no choice has are allowed"),
    ("Man", SPEAKER, "Woman", False, "'woman' is one token, so the answer word 'man' is absent"),
    ("Man", SPEAKER, "a man or a woman", False, "'woman' only a wrong choice has"),
    ("Man", SPEAKER, "robot-like man", False, "the hyphen splits off 'robot', a wrong-choice word"),
    ("Live band", MUSIC, "band", False, "partial answer: 'live' missing"),
    ("Live band", MUSIC, "a live band, clearly", True, "both answer words, nothing from wrong choices"),
    ("House door", DOORS, "door", False, "partial: 'door' is shared, 'house' is missing"),
    ("House door", DOORS, "the house door", True, "'door' is shared with the answer, so allowed"),
    ("House door", DOORS, "house door, not the car door", False, "'car' only a wrong choice has"),
    ("Persian folk and opera", GENRES, "opera and folk, Persian", True, "word order is irrelevant"),
    ("Persian folk and opera", GENRES, "folk and opera", False, "partial: 'persian' missing"),
    ("Persian folk and opera", GENRES, "Persian folk and opera, no jazz", False, "'jazz' is wrong-only"),
    ("Rain", RAIN, "rain", True, "answer word is a subset of a wrong choice's words: still right"),
    ("Rain", RAIN, "rain and thunder", False, "'and' and 'thunder' only the wrong choice has"),
    ("A men's locker room post-exercise", LOCKER, "a men's locker room, post-exercise", True,
     "apostrophe and hyphen split the same way on both sides"),
    ("A men's locker room post-exercise", LOCKER, "A mens locker room post exercise", False,
     "'mens' is not the tokens 'men' + 's'"),
    ("A men's locker room post-exercise", LOCKER, "men's locker room after exercise", False,
     "'a' and 'post' are answer words and are missing"),
    ("(A) Country", COUNTRY, "Country", False, "MMAU quirk kept: the answer's '(A)' adds the word 'a'"),
    ("(A) Country", COUNTRY, "(a) country", True, "both answer words 'a' and 'country'"),
    ("3", COUNTS, "There are 3 beeps.", True, "digits are word tokens"),
    ("3", COUNTS, "3 or maybe 4", False, "'4' is a wrong choice's word"),
    ("Dog", ["Dog", "dog", "Cat"], "dog", True, "a choice equal to the answer as a word set is skipped"),
    ("Man", SPEAKER, "!!!", False, "no word tokens at all"),
]


def test_tokenize_lowercases_and_splits_on_non_word_characters() -> None:
    assert tokenize("A men's Locker-Room, (B) 3!") == {"a", "men", "s", "locker", "room", "b", "3"}
    assert tokenize("...") == set()


def test_wrong_choice_words_exclude_answer_words() -> None:
    assert wrong_choice_words("House door", DOORS) == {"car", "cabinet", "elevator"}
    assert wrong_choice_words("Persian folk and opera", GENRES) == {"pop", "jazz", "classical", "rock"}


@pytest.mark.parametrize(("answer", "choices", "prediction", "expected", "why"), CASES)
def test_mmau_rule_on_hand_verified_items(
    answer: str, choices: list[str], prediction: str, expected: bool, why: str
) -> None:
    assert string_match(answer, prediction, choices) is expected, why
    score = score_prediction(answer, prediction, choices)
    assert (score.correct, score.missing) == (expected, False), why


@pytest.mark.parametrize("prediction", [None, "", "   \n"])
def test_missing_predictions_are_wrong_and_counted(prediction: str | None) -> None:
    score = score_prediction("Man", prediction, SPEAKER)
    assert (score.correct, score.missing) == (False, True)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("<THINK><CAPTION>a cat</CAPTION></THINK><RESPONSE>Dog</RESPONSE>", "Dog"),
        ("<RESPONSE>cat</RESPONSE> on second thought <RESPONSE> dog </RESPONSE>", "dog"),
        ("<THINK>cat?</THINK><RESPONSE>The dog", "The dog"),  # cut off before the closing tag
        ("<response>dog</Response>", "dog"),
        ("  Dog barking  \n", "Dog barking"),  # no tags: the whole output
        ("<RESPONSE></RESPONSE>", ""),
    ],
)
def test_extract_answer(output: str, expected: str) -> None:
    assert extract_answer(output) == expected


def test_think_text_does_not_leak_into_the_scored_answer() -> None:
    output = "<THINK>could be a woman or a child</THINK><RESPONSE>a man</RESPONSE>"
    assert string_match("Man", extract_answer(output), SPEAKER)
    assert not string_match("Man", output, SPEAKER)  # scoring the raw output would be wrong


def _row(index: int, answer: str, choices: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": f"q{index}", "answer": answer, "choices": choices, "task": "sound",
            "difficulty": "easy", "sub-category": "Test", **extra}


def test_prediction_field_priority_and_sub_category_spellings() -> None:
    rows = [
        _row(0, "Man", SPEAKER, model_prediction="man", model_output="<RESPONSE>woman</RESPONSE>"),
        _row(1, "Man", SPEAKER, model_output="<THINK>woman?</THINK><RESPONSE>man</RESPONSE>"),
        _row(2, "Man", SPEAKER),
        _row(3, "Man", SPEAKER, model_prediction=None, model_output="man"),
        {"id": "q4", "answer": "Man", "choices": SPEAKER, "sub_category": "Ours", "model_prediction": "man"},
    ]
    records = parse_records(rows, "preds.json")
    assert [r.prediction for r in records] == ["man", "man", None, None, "man"]
    assert records[4].sub_category == "Ours"
    assert records[4].task is None
    assert records[1].where == "preds.json[1]"


def _write(tmp_path: Path, rows: object, name: str = "preds.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


# Every CASES item as a file row, plus a missing key, a null and an empty prediction.
def _case_rows() -> tuple[list[dict[str, Any]], list[bool]]:
    rows = [
        _row(i, a, c, model_prediction=p, task=("sound", "music", "speech")[i % 3],
             difficulty=("easy", "medium", "hard")[i % 3])
        for i, (a, c, p, _, _) in enumerate(CASES)
    ]
    expected = [e for *_, e, _ in CASES]
    n = len(rows)
    rows += [_row(n, "Man", SPEAKER), _row(n + 1, "Man", SPEAKER, model_prediction=None),
             _row(n + 2, "Man", SPEAKER, model_prediction="")]
    return rows, [*expected, False, False, False]


def test_score_file_agrees_with_hand_verdicts_item_by_item(tmp_path: Path) -> None:
    rows, expected = _case_rows()
    report = score_records(load_predictions(_write(tmp_path, rows)))
    assert [item.correct for item in report.items] == expected
    assert report.overall.n == len(CASES) + 3  # missing items stay in the denominator
    assert report.overall.correct == sum(expected)
    assert report.overall.missing == 3


def test_breakdown_counts(tmp_path: Path) -> None:
    rows = [
        _row(0, "Man", SPEAKER, model_prediction="man", task="sound", difficulty="easy"),      # right
        _row(1, "Man", SPEAKER, model_prediction="woman", task="sound", difficulty="hard"),    # wrong
        _row(2, "Man", SPEAKER, task="music", difficulty="easy", **{"sub-category": "Other"}),  # missing
        _row(3, "3", COUNTS, model_prediction="3", task="speech", difficulty="medium",
             **{"sub-category": "Other"}),                                                     # right
        {"id": "q4", "answer": "3", "choices": COUNTS, "model_prediction": "4"},  # wrong, no groups
    ]
    report = score_records(load_predictions(_write(tmp_path, rows)))
    out = report.to_json()
    assert out["overall"] == {"accuracy": 0.4, "correct": 2, "n": 5, "missing": 1}
    assert list(out["task"]) == ["sound", "music", "speech"]
    assert out["task"]["sound"] == {"accuracy": 0.5, "correct": 1, "n": 2, "missing": 0}
    assert out["task"]["music"] == {"accuracy": 0.0, "correct": 0, "n": 1, "missing": 1}
    assert out["task"]["speech"]["correct"] == 1
    assert list(out["difficulty"]) == ["easy", "medium", "hard"]
    assert out["difficulty"]["easy"] == {"accuracy": 0.5, "correct": 1, "n": 2, "missing": 1}
    assert out["sub-category"]["Test"] == {"accuracy": 0.5, "correct": 1, "n": 2, "missing": 0}
    assert out["sub-category"]["Other"] == {"accuracy": 0.5, "correct": 1, "n": 2, "missing": 1}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"id": "x"}, "expected a JSON list"),
        ([_row(0, "Man", SPEAKER), 7], "preds.json[1]: each item must be a JSON object"),
        ([_row(0, "Man", "Man")], "preds.json[0] (id q0): 'choices' must be a list of strings"),
        ([{"id": "z", "choices": SPEAKER}], "preds.json[0] (id z): 'answer' must be a string"),
        ([_row(0, "Man", SPEAKER, model_prediction=3)], "'model_prediction' must be a string or null"),
        ([_row(0, "Man", SPEAKER, task=1)], "preds.json[0] (id q0): 'task' must be a string"),
    ],
)
def test_bad_files_name_the_file_and_index(tmp_path: Path, rows: object, message: str) -> None:
    with pytest.raises(PredictionFileError, match=re.escape(message)):
        load_predictions(_write(tmp_path, rows))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PredictionFileError, match="no such file"):
        load_predictions(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": 1,}]')
    with pytest.raises(PredictionFileError, match=r"broken\.json: invalid JSON at line 1"):
        load_predictions(broken)


def test_jsonl_predictions_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps(_row(0, "Man", SPEAKER, model_prediction="man")) + "\n\n{bad\n")
    with pytest.raises(PredictionFileError, match=r"preds\.jsonl:3: invalid JSON"):
        load_predictions(path)
    path.write_text(json.dumps(_row(0, "Man", SPEAKER, model_prediction="man")) + "\n")
    assert score_records(load_predictions(path)).overall.correct == 1


def test_score_cli_json_shape(tmp_path: Path) -> None:
    rows, expected = _case_rows()
    result = CliRunner().invoke(app, ["score", str(_write(tmp_path, rows)), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"overall", "task", "difficulty", "sub-category"}
    assert out["overall"] == {"accuracy": sum(expected) / len(expected), "correct": sum(expected),
                              "n": len(expected), "missing": 3}
    for group in ("task", "difficulty", "sub-category"):
        for counts in out[group].values():
            assert set(counts) == {"accuracy", "correct", "n", "missing"}
            assert 0.0 <= counts["accuracy"] <= 1.0
    assert sum(c["n"] for c in out["task"].values()) == len(expected)


def test_score_cli_table_and_error(tmp_path: Path) -> None:
    runner = CliRunner()
    good = _write(tmp_path, [_row(0, "Man", SPEAKER, model_prediction="man")])
    result = runner.invoke(app, ["score", str(good)])
    assert result.exit_code == 0, result.output
    assert "100.00" in result.stdout and "overall" in result.stdout
    bad = _write(tmp_path, [_row(0, "Man", SPEAKER), "oops"], "bad.json")
    result = runner.invoke(app, ["score", str(bad)])
    assert result.exit_code == 1
    assert "bad.json[1]" in result.output
