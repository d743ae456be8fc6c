"""The texts the zoo trains on, built from a synth clip's ground truth (`meta`).

- `heard_description(meta)`: what the student is taught to say when asked to describe a clip (the
  canonical caption: `The speaker says in a happy voice: "..."`, `two beeps, then one click`,
  `four notes, rising, slow tempo`, `a minor triad`). `audistill textualize --mode student` therefore
  yields this format, and it is also the CAPTION stage of every reasoning trace.
- `oracle_description(meta)` (synth): the caption plus exact details (times, levels, note names).
  The textual teacher learns to read both, so it serves student and oracle textualizations alike.
- `clip_tasks(example)`: the perception tasks of one clip (transcribe, name the emotion, caption the
  sounds or the music, as `audistill synth` writes its perception items, plus "describe what you
  hear"), each an Example-shaped question with the exact target text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from audistill.data.example import Example
from audistill.synth import caption, oracle_description
from audistill.synth.build import PERCEPTION_QUESTIONS
from audistill.synth.lexicon import EMOTIONS
from audistill.views import DESCRIBE_PROMPT, DESCRIPTION_PREFIX, question_text, target_text

SPEECH_KINDS = ("speech",)
SOUND_KINDS = ("sounds",)
MUSIC_KINDS = ("melody", "triad")


class ZooDataError(ValueError):
    """Data the zoo cannot train on; the message names the file or the example."""


def clip_kind(example: Example) -> str:
    """The clip's kind from its ground truth (speech, sounds, melody, triad); ZooDataError without one."""
    kind = example.meta.get("kind") if isinstance(example.meta, dict) else None
    if kind not in (*SPEECH_KINDS, *SOUND_KINDS, *MUSIC_KINDS):
        where = f"{example.id!r}" + (f" ({example.origin})" if example.origin else "")
        raise ZooDataError(f"example {where}: no synth ground truth (`meta.kind` speech, sounds, melody or "
                           "triad); the zoo trains on `audistill synth` data")
    return str(kind)


def heard_description(meta: dict[str, Any]) -> str:
    """The description the student learns to give: the clip's canonical caption."""
    return caption(meta)


def oracle_text(meta: dict[str, Any]) -> str:
    """The benchmark's exact oracle description (synth's `oracle_description`)."""
    return oracle_description(meta)


@dataclass(frozen=True)
class StudentTask:
    """One thing the student learns to do with a clip: the prompt's user text and the exact target.

    `user_text` None means the example's own question (and choices), as `views.question_text` writes it;
    `kind` is transcription | emotion | caption | describe.
    """

    example: Example
    kind: str
    target: str
    user_text: str | None = None


def _task(example: Example, sub_category: str, choices: Sequence[str], answer: str, kind: str) -> StudentTask:
    asked = replace(example, question=PERCEPTION_QUESTIONS[sub_category], choices=list(choices),
                    answer=answer, sub_category=sub_category, reasoning=None, description=None)
    return StudentTask(asked, kind, target_text(asked))


def clip_tasks(example: Example) -> list[StudentTask]:
    """Every perception task of the clip of `example` (its question and answer are not used)."""
    meta = example.meta
    kind = clip_kind(example)
    if kind == "speech":
        tasks = [_task(example, "transcription", [], str(meta["transcript"]), "transcription"),
                 _task(example, "emotion recognition", EMOTIONS, str(meta["emotion"]), "emotion")]
    elif kind == "sounds":
        tasks = [_task(example, "sound captioning", [], caption(meta), "caption")]
    else:
        tasks = [_task(example, "music captioning", [], caption(meta), "caption")]
    tasks.append(StudentTask(example, "describe", heard_description(meta), DESCRIBE_PROMPT))
    return tasks


def unique_clips(examples: Iterable[Example]) -> list[Example]:
    """One example per audio file, first come first kept (a speech clip has two perception items)."""
    seen: dict[str, Example] = {}
    for example in examples:
        seen.setdefault(example.audio, example)
    return list(seen.values())


def teacher_examples(examples: Iterable[Example]) -> list[Example]:
    """Each reasoning example once per distinct description: the oracle one and the heard one."""
    out: list[Example] = []
    for example in examples:
        clip_kind(example)
        texts = dict.fromkeys([oracle_text(example.meta), heard_description(example.meta)])
        out.extend(replace(example, description=text) for text in texts)
    return out


def text_only_examples(n: int, seed: int, task_shares: Mapping[str, float] | None = None) -> list[Example]:
    """`n` reasoning items drawn from synth's train generators without rendering audio (text only).

    A text LLM has read far more text than any audio set holds; these items play that part for the
    nano teacher. They come from the train split's pools (no held-out name, number or template, so
    the test split's held-out content stays unseen) with their own seed, and carry no audio.
    `task_shares` (task -> fraction, summing to 1) sets how many come from each task's generators;
    without it the tasks take turns, as in the benchmark's own splits. Within a task the sub-categories
    and difficulties keep taking turns either way.
    """
    from audistill.data.formats import mmau_example
    from audistill.synth.build import BY_NAME, DATASET, draft_reasoning
    from audistill.synth.items import format_trace
    from audistill.synth.plan import TASK_ORDER, reasoning_jobs

    if task_shares:
        counts = task_counts(n, task_shares)
        # The generators deal tasks in turn, so the first 3 x max(count) jobs hold enough of each task.
        pool = reasoning_jobs("train", len(TASK_ORDER) * max(counts.values(), default=0), seed, "text-only",
                              16000, 5.0)
        taken = dict.fromkeys(counts, 0)
        jobs = []
        for job in pool:
            task = job.group[0]
            if taken.get(task, 0) < counts.get(task, 0):
                taken[task] += 1
                jobs.append(job)
    else:
        jobs = reasoning_jobs("train", n, seed, "text-only", 16000, 5.0)
    examples: list[Example] = []
    for job in jobs:
        task, name, difficulty = job.group
        draft, choices, used = draft_reasoning(job)
        meta = {**draft.scene, "query": draft.query, "template": draft.template.id, "held_out": used}
        row = {"id": f"text-only-{job.index:06d}", "audio_id": "", "question": draft.question,
               "choices": choices, "answer": draft.answer, "dataset": DATASET, "task": task, "split": "train",
               "category": BY_NAME[(task, name)].levels[difficulty].category, "sub-category": name,
               "difficulty": difficulty, "meta": meta,
               "reasoning": format_trace(draft.planning, caption(draft.scene), draft.steps, draft.summary,
                                         draft.answer)}
        examples.append(mmau_example(row, "text-only", Path(".")))
    return examples


def task_counts(n: int, task_shares: Mapping[str, float]) -> dict[str, int]:
    """`n` split by the shares (largest remainders, so the counts sum to `n`); unknown tasks refused."""
    from audistill.synth.plan import TASK_ORDER

    unknown = sorted(set(task_shares) - set(TASK_ORDER))
    if unknown:
        raise ValueError(f"teacher text task shares: unknown task(s) {', '.join(unknown)}; the benchmark's "
                         f"tasks are {', '.join(TASK_ORDER)}")
    if any(share < 0 for share in task_shares.values()) or abs(sum(task_shares.values()) - 1.0) > 1e-6:
        raise ValueError("teacher text task shares must be non-negative and sum to 1, got "
                         f"{dict(task_shares)}")
    exact = {task: n * share for task, share in task_shares.items()}
    counts = {task: int(value) for task, value in exact.items()}
    by_remainder = sorted(exact, key=lambda task: (counts[task] - exact[task], TASK_ORDER.index(task)))
    for task in by_remainder[: n - sum(counts.values())]:
        counts[task] += 1
    return counts


def tokenizer_corpus(student_tasks: Iterable[StudentTask], teacher_items: Iterable[Example],
                     system_prompt: str) -> list[str]:
    """Texts the shared tokenizer is trained on: every prompt and target the two models will see.

    Lines are laid out as the chat template lays them out (role names, then the text on the next
    line), minus the special tokens, so that words split the same way in training and use.
    """
    frame = f"system\n{system_prompt}\nuser\n"
    texts = []
    for task in student_tasks:
        user = task.user_text if task.user_text is not None else question_text(task.example)
        texts.append(f"{frame}Audio 1: \n{user}\nassistant\n{task.target}\n")
    for example in teacher_items:
        texts.append(f"{frame}{DESCRIPTION_PREFIX}{example.description}\n{question_text(example)}\n"
                     f"assistant\n{target_text(example)}\n")
    return texts
