"""Emotion UA, transcription WER, item kinds and confidence intervals, on hand-computed values."""

from __future__ import annotations

import math

import pytest

from audistill.eval.metrics import (
    is_emotion_item,
    item_kind,
    normalise_transcript,
    score_records,
    unweighted_accuracy,
    word_error_rate,
)
from audistill.eval.predictions import parse_records
from audistill.eval.stats import mean_ci, median_ci, wilson_interval

EMOTIONS = ["Neutral", "Happy", "Sad", "Angry"]


def test_unweighted_accuracy_differs_from_accuracy_on_imbalanced_classes() -> None:
    # happy: 4 items, 3 right -> recall 3/4; sad: 1 item, wrong -> 0; angry: 1 item, right -> 1.
    # Accuracy = 4/6 = 0.667, UA = (0.75 + 0 + 1) / 3 = 0.5833.
    true = ["Happy", "happy", "HAPPY!", "Happy", "Sad", "Angry"]
    predicted = ["happy", "Happy", "happy", "sad", "happy", "angry"]
    ua = unweighted_accuracy(true, predicted)
    assert ua.ua == pytest.approx((0.75 + 0.0 + 1.0) / 3)
    assert ua.recalls == {"angry": (1, 1), "happy": (3, 4), "sad": (0, 1)}
    assert ua.n == 6
    accuracy = sum(t.lower().strip("!") == p.lower() for t, p in zip(true, predicted, strict=True)) / 6
    assert accuracy == pytest.approx(4 / 6)
    assert ua.ua != pytest.approx(accuracy)


def test_unweighted_accuracy_counts_a_missing_prediction_as_a_miss() -> None:
    ua = unweighted_accuracy(["sad", "sad"], [None, "sad"])
    assert ua.ua == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        unweighted_accuracy(["sad", "sad"], ["sad"])


def test_emotion_items_in_a_report() -> None:
    # Emotion items count in accuracy and additionally in UA; the "Source" item only in accuracy.
    rows = [
        {"answer": "Happy", "choices": EMOTIONS, "sub-category": "emotion", "model_prediction": "happy"},
        {"answer": "Happy", "choices": EMOTIONS, "sub-category": "emotion", "model_prediction": "happy"},
        {"answer": "Happy", "choices": EMOTIONS, "sub-category": "emotion", "model_prediction": "sad"},
        {"answer": "Sad", "choices": EMOTIONS, "sub-category": "Emotion Recognition",
         "model_output": "<THINK>the words sound happy</THINK><RESPONSE>Sad.</RESPONSE>"},
        {"answer": "Angry", "choices": EMOTIONS, "sub-category": "emotion"},  # missing: a miss
        {"answer": "Man", "choices": ["Man", "Woman"], "sub-category": "Source", "model_prediction": "man"},
    ]
    report = score_records(parse_records(rows, "mem"))
    assert (report.overall.correct, report.overall.n, report.overall.missing) == (4, 6, 1)
    assert report.emotion is not None
    # happy 2/3, sad 1/1, angry 0/1 -> UA = (2/3 + 1 + 0) / 3 = 5/9; emotion accuracy would be 3/5.
    assert report.emotion.recalls == {"angry": (0, 1), "happy": (2, 3), "sad": (1, 1)}
    assert report.emotion.ua == pytest.approx(5 / 9)
    assert report.transcription is None
    extended = report.to_json(extended=True)
    assert extended["emotion"]["ua"] == pytest.approx(5 / 9)
    assert extended["emotion"]["classes"]["happy"] == {"recall": pytest.approx(2 / 3), "correct": 2, "n": 3}
    assert extended["transcription"] is None
    assert "emotion" not in report.to_json()


def test_normalise_transcript() -> None:
    assert normalise_transcript("  Don't STOP -- the twenty-one  cats!\n") == "dont stop the twenty one cats"
    assert normalise_transcript("It\u2019s 3:45.") == "its 3 45"


def test_word_error_rate_on_a_hand_example() -> None:
    # item 1: "the cat sat on the mat" vs "the cat sat on a mat": 1 substitution, 6 words.
    # item 2: "dont stop" vs nothing (missing): 2 deletions, 2 words.
    # item 3: "hello world" vs "hello big world": 1 insertion, 2 words.
    # WER = (1 + 2 + 1) / (6 + 2 + 2) = 0.4
    wer = word_error_rate(
        ["The cat sat on the mat.", "Don't stop!", "hello world"],
        ["the cat sat on a mat", None, "Hello, big world"],
    )
    assert (wer.substitutions, wer.deletions, wer.insertions) == (1, 2, 1)
    assert wer.reference_words == 10
    assert wer.wer == pytest.approx(0.4)
    assert (wer.n, wer.missing) == (3, 1)


def test_word_error_rate_rejects_an_empty_reference_by_name() -> None:
    with pytest.raises(ValueError, match=r"test\.json\[1\]: the reference transcript has no words"):
        word_error_rate(["a b", "..."], ["a b", "x"], ["test.json[0]", "test.json[1]"])


def test_transcription_items_are_scored_by_wer_not_accuracy() -> None:
    rows = [
        {"answer": "hello world", "choices": [], "task": "speech", "sub-category": "Transcription",
         "model_output": "<RESPONSE>Hello, world!</RESPONSE>"},
        {"answer": "good night moon", "choices": [], "task": "speech", "sub-category": "speech transcription",
         "model_prediction": "good night"},
        {"answer": "Man", "choices": ["Man", "Woman"], "task": "speech", "model_prediction": "woman"},
    ]
    report = score_records(parse_records(rows, "mem"))
    assert (report.overall.correct, report.overall.n) == (0, 1)
    assert report.task["speech"].n == 1
    assert report.transcription is not None
    assert report.transcription.wer == pytest.approx(1 / 5)  # one deletion over 2 + 3 words
    assert [item.kind for item in report.items] == ["transcription", "transcription", "choice"]
    assert report.items[0].correct is None


@pytest.mark.parametrize(
    ("sub_category", "kind", "emotion"),
    [
        ("Transcription", "transcription", False),
        ("speech_transcription", "transcription", False),
        ("ASR", "transcription", False),
        ("Speech Recognition", "transcription", False),
        ("Speech Emotion Recognition", "choice", True),
        ("Emotion Tone Reasoning", "choice", True),
        ("emotional tone", "choice", False),  # whole words only
        ("Acoustic Source Inference", "choice", False),
        (None, "choice", False),
    ],
)
def test_item_kinds(sub_category: str | None, kind: str, emotion: bool) -> None:
    assert item_kind(sub_category) == kind
    assert is_emotion_item(sub_category) is emotion


def test_mean_ci_student_t() -> None:
    # mean 0.72, s = 0.02, t(0.975, 2) = 4.302653 -> half = 4.302653 * 0.02 / sqrt(3) = 0.049683
    ci = mean_ci([0.70, 0.72, 0.74])
    assert ci.mean == pytest.approx(0.72)
    assert ci.half_width == pytest.approx(0.049683, abs=1e-6)
    assert ci.low == pytest.approx(0.72 - 0.049683, abs=1e-6)
    assert ci.high == pytest.approx(0.72 + 0.049683, abs=1e-6)
    assert ci.n == 3
    single = mean_ci([0.5])
    assert single.mean == 0.5 and math.isnan(single.half_width) and math.isnan(single.low)
    assert mean_ci([0.3, 0.3]).half_width == 0.0
    with pytest.raises(ValueError):
        mean_ci([])


def test_wilson_interval() -> None:
    # 8/10: the textbook Wilson 95% interval is (0.4902, 0.9433); 0/10: (0, 0.2775).
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.49016, abs=1e-5), pytest.approx(0.94332, abs=1e-5))
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-5)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(1 - 0.27753, abs=1e-5)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_median_ci_order_statistics() -> None:
    # n = 14: P(B <= 2) = (1 + 14 + 91) / 2^14, so [x_(3), x_(12)] covers 1 - 212 / 16384 = 98.7 %;
    # k = 4 would cover 1 - 2 (106 + 364) / 16384 = 94.3 % < 95 %.
    values = [14.0, 2.0, 9.0, 1.0, 13.0, 5.0, 8.0, 3.0, 12.0, 4.0, 11.0, 6.0, 10.0, 7.0]
    ci = median_ci(values)
    assert (ci.median, ci.low, ci.high, ci.n) == (7.5, 3.0, 12.0, 14)
    assert ci.coverage == pytest.approx(1 - 212 / 16384)
    eight = median_ci([3.0, 1.0, 2.0, 5.0, 4.0, 6.0, 8.0, 7.0])  # k = 2 covers 93.0 %: min and max
    assert (eight.low, eight.high) == (1.0, 8.0) and eight.coverage == pytest.approx(1 - 2 / 256)
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], confidence=0.9).low == 2.0
    five = median_ci([5.0, 1.0, 3.0, 2.0, 4.0])  # even [min, max] covers only 93.75 %
    assert five.median == 3.0 and math.isnan(five.low) and math.isnan(five.high)
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0], confidence=1.0)
