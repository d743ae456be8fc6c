"""The hold-out rule, answer-position balance, distractor kinds and stratification, checked over
many items drawn without audio (the generators are pure functions of their seeds)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import pytest
from scipy.stats import chisquare

from audistill.synth import SynthSettings, SynthSizes, generate
from audistill.synth.build import draft_reasoning
from audistill.synth.card import all_templates
from audistill.synth.items import Draft
from audistill.synth.plan import reasoning_jobs

HELD_NAMES = ("Olga", "Peter", "Rosa")
HELD_NUMBER = re.compile(r"\b(7|11|seven|eleven)\b", re.IGNORECASE)
N = 1500


@cache
def drafts(split: str) -> list[tuple[tuple[str, ...], Draft, list[str], list[str]]]:
    out = []
    for job in reasoning_jobs(split, N, 11, "unused", 16000, 5.0):
        draft, choices, used = draft_reasoning(job)
        out.append((job.group, draft, choices, used))
    return out


def texts(draft: Draft, choices: list[str]) -> list[str]:
    return [draft.scene.get("transcript", ""), draft.question, draft.answer, *choices]


def template_pattern(text: str) -> re.Pattern[str]:
    parts = re.split(r"\{\w+\}", text)
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


@pytest.mark.parametrize("split", ["train", "dev"])
def test_train_and_dev_never_use_held_out_names_numbers_or_templates(split: str) -> None:
    held_patterns = [template_pattern(t.text) for t in all_templates() if t.held_out]
    for _, draft, choices, used in drafts(split):
        assert used == []
        for text in texts(draft, choices):
            assert not any(re.search(rf"\b{name}\b", text) for name in HELD_NAMES), text
            assert not HELD_NUMBER.search(text), text
        assert not draft.template.held_out
        assert not any(p.match(draft.question) for p in held_patterns), draft.question


def test_test_split_uses_every_held_out_name_number_and_template() -> None:
    seen_names, seen_numbers, seen_templates = set(), set(), set()
    for _, draft, choices, used in drafts("test"):
        for text in texts(draft, choices):
            seen_names |= {n for n in HELD_NAMES if re.search(rf"\b{n}\b", text)}
            seen_numbers |= {m.lower() for m in HELD_NUMBER.findall(text)}
        if draft.template.held_out:
            seen_templates.add(draft.template.id)
            assert f"template:{draft.template.id}" in used
    assert seen_names == set(HELD_NAMES)
    assert {"seven", "eleven"} <= seen_numbers
    assert seen_templates == {t.id for t in all_templates() if t.held_out}
    share = sum(bool(used) for *_, used in drafts("test")) / N
    assert 0.5 < share < 0.95, "about half or more of the test items should exercise the hold-out"


def test_held_out_question_wordings_differ_from_every_train_wording() -> None:
    templates = all_templates()
    assert len({t.id for t in templates}) == len(templates)
    by_prefix = defaultdict(list)
    for t in templates:
        by_prefix[t.id.rsplit(".", 1)[0]].append(t)
    for group in by_prefix.values():
        assert sum(t.held_out for t in group) == 1 and len(group) >= 3, [t.id for t in group]
    train_questions = {d.question for _, d, _, _ in drafts("train")}
    for t in templates:
        if t.held_out:
            assert not any(template_pattern(t.text).match(q) for q in train_questions), t.id


def test_card_lists_the_held_out_names_numbers_and_templates(tmp_path: Path) -> None:
    out = tmp_path / "set"
    generate(out, SynthSettings(seed=2, size="tiny", sizes=SynthSizes({"test": 3}, {})), progress=False)
    card = (out / "CARD.md").read_text()
    section = card[card.index("## Held out from train"):card.index("## Generator settings")]
    for name in HELD_NAMES:
        assert name in section
    assert "7 (seven)" in section and "11 (eleven)" in section
    for t in all_templates():
        assert (f"| {t.id} |" in section) == t.held_out, t.id


@pytest.mark.parametrize("split", ["train", "test"])
def test_answer_positions_are_balanced_within_every_group(split: str) -> None:
    positions: dict[tuple[str, ...], Counter[int]] = defaultdict(Counter)
    n_choices: dict[tuple[str, ...], int] = {}
    for group, draft, choices, _ in drafts(split):
        positions[group][choices.index(draft.answer)] += 1
        n_choices[group] = len(choices)
    for group, counts in positions.items():
        per_position = [counts[p] for p in range(n_choices[group])]
        assert max(per_position) - min(per_position) <= 1, (group, per_position)
    for n in (2, 3, 4):
        total = Counter()
        for group, counts in positions.items():
            if n_choices[group] == n:
                total.update(counts)
        observed = [total[p] for p in range(n)]
        assert chisquare(observed).pvalue > 0.5, (n, observed)


def _kind(choice: str) -> str:
    if choice.isdigit():
        return "number"
    if choice in ("yes", "no"):
        return "yes/no"
    if choice in ("neutral", "happy", "sad", "angry"):
        return "emotion"
    if choice in ("major", "minor"):
        return "quality"
    if choice in ("fast", "slow"):
        return "tempo"
    if choice in ("rising", "falling", "rising then falling"):
        return "direction"
    if choice in ("beep", "click", "noise burst", "rising chirp", "falling chirp"):
        return "sound"
    if choice.startswith("the "):
        return "ordinal"
    if choice[0].isupper():
        return "name"
    return "activity"


def test_distractors_are_of_the_answers_kind() -> None:
    for _, draft, choices, _ in drafts("train"):
        assert {_kind(c) for c in choices} == {_kind(draft.answer)}, (draft.question, choices)


def test_items_are_stratified_over_tasks_sub_categories_and_difficulties() -> None:
    groups = Counter(group for group, *_ in drafts("train"))
    tasks = Counter(group[0] for group in groups.elements())
    assert max(tasks.values()) - min(tasks.values()) <= 1
    for task in tasks:
        subs = Counter(g[1] for g in groups.elements() if g[0] == task)
        assert max(subs.values()) - min(subs.values()) <= 1, subs
        for sub in subs:
            levels = Counter(g[2] for g in groups.elements() if g[:2] == (task, sub))
            assert max(levels.values()) - min(levels.values()) <= 1, levels
