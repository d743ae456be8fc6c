"""One job = one clip: draw its content from its own seed, render the audio, write the wav,
return the JSON rows (one reasoning item, or one or two perception items).

Every job's randomness comes from `numpy.random.default_rng([seed, set, split, index])`, never
from the order in which a process pool runs the jobs, so any number of workers gives the same
bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audistill.io import atomic_write_bytes
from audistill.synth.captions import caption
from audistill.synth.items import Draft, SubCategory, format_trace, order_choices
from audistill.synth.lexicon import (
    EMOTIONS,
    HELD_OUT_NAMES,
    held_out_names_in,
    held_out_numbers_in,
    pools_for,
)
from audistill.synth.music import render_music
from audistill.synth.music_items import MUSIC_SUBCATEGORIES
from audistill.synth.sound_items import SOUND_SUBCATEGORIES
from audistill.synth.sounds import render_sounds
from audistill.synth.speech_items import SPEECH_SUBCATEGORIES
from audistill.synth.voices import speak

DATASET = "audistill-synth"
SPLITS: tuple[str, ...] = ("train", "dev", "test")
SUBCATEGORIES: tuple[SubCategory, ...] = SPEECH_SUBCATEGORIES + SOUND_SUBCATEGORIES + MUSIC_SUBCATEGORIES
BY_NAME: dict[tuple[str, str], SubCategory] = {(s.task, s.name): s for s in SUBCATEGORIES}

PERCEPTION_QUESTIONS: dict[str, str] = {
    "transcription": "Transcribe the speech.",
    "emotion recognition": "Which emotion does the speaker's voice express?",
    "sound captioning": "Describe the sounds.",
    "music captioning": "Describe the music.",
}
_SET_CODE = {"reasoning": 0, "perception": 1}
_SPLIT_CODE = {"train": 0, "dev": 1, "test": 2}
_MAX_TRIES = 200


@dataclass(frozen=True)
class Job:
    """One clip to make. `group` is (task, sub-category, difficulty) for a reasoning item and
    (task,) for a perception clip; `position` is where the correct choice goes."""

    set_name: str
    split: str
    index: int
    seed: int
    group: tuple[str, ...]
    position: int
    out_dir: str
    sample_rate: int
    max_seconds: float

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(
            [self.seed, _SET_CODE[self.set_name], _SPLIT_CODE[self.split], self.index]
        )

    @property
    def audio_id(self) -> str:
        return f"audio/{self.split}-{self.index:05d}.wav"


def render(scene: dict[str, Any], sample_rate: int, max_seconds: float) -> np.ndarray:
    """The clip's samples; for speech also records the prosody used and the clip's length."""
    kind = scene["kind"]
    if kind == "speech":
        audio, prosody = speak(
            scene["transcript"],
            scene["voice"],
            scene["emotion"],
            sample_rate,
            max_seconds,
            scene["espeak_seed"],
        )
        scene["prosody"] = prosody
        scene["duration"] = round(len(audio) / sample_rate, 3)
        return audio
    if kind == "sounds":
        audio = render_sounds(scene, sample_rate)
    elif kind in ("melody", "triad"):
        audio = render_music(scene, sample_rate)
    else:
        raise ValueError(f"unknown clip kind {kind!r}")
    if len(audio) > max_seconds * sample_rate:
        raise ValueError(f"{kind} clip of {len(audio) / sample_rate:.2f} s is longer than {max_seconds} s")
    return audio


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, audio, sample_rate, format="WAV", subtype="PCM_16")
    atomic_write_bytes(path, buffer.getvalue())


def held_out_used(draft: Draft, choices: list[str]) -> list[str]:
    """Every held-out name, number and template this item uses, e.g. ["name:Olga", "number:7"]."""
    spoken = draft.scene.get("transcript", "")
    texts = [spoken, draft.question, draft.answer, *choices]
    names = set().union(*(held_out_names_in(t) for t in texts))
    numbers = set().union(*(held_out_numbers_in(t) for t in texts))
    used = [f"name:{n}" for n in sorted(names, key=HELD_OUT_NAMES.index)]
    used += [f"number:{n}" for n in sorted(numbers)]
    if draft.template.held_out:
        used.append(f"template:{draft.template.id}")
    return used


def draft_reasoning(job: Job) -> tuple[Draft, list[str], list[str]]:
    """The job's item without audio: (draft, ordered choices, held-out content used).

    A train or dev item that happens to use held-out content (a sum that comes out as a
    held-out number, say) is drawn again from the same generator, so the hold-out is exact.
    """
    task, name, difficulty = job.group
    sub = BY_NAME[(task, name)]
    level = sub.levels[difficulty]
    pools = pools_for(job.split, perception=False)
    rng = job.rng()
    for _ in range(_MAX_TRIES):
        draft = sub.generate(rng, difficulty, pools)
        if len(draft.distractors) + 1 != level.n_choices:
            raise AssertionError(
                f"{task}/{name}/{difficulty}: {len(draft.distractors) + 1} choices, "
                f"expected {level.n_choices}"
            )
        choices = order_choices(draft.answer, draft.distractors, job.position, rng)
        used = held_out_used(draft, choices)
        if not used or pools.allow_held_out:
            return draft, choices, used
    raise RuntimeError(f"{task}/{name}/{difficulty}: no item without held-out content in {_MAX_TRIES} tries")


def reasoning_rows(job: Job) -> list[dict[str, Any]]:
    task, name, difficulty = job.group
    level = BY_NAME[(task, name)].levels[difficulty]
    draft, choices, used = draft_reasoning(job)
    scene = draft.scene
    write_wav(
        Path(job.out_dir) / job.audio_id, render(scene, job.sample_rate, job.max_seconds), job.sample_rate
    )
    meta = {**scene, "query": draft.query, "template": draft.template.id, "held_out": used}
    return [
        {
            "id": f"synth-{job.split}-{job.index:05d}",
            "audio_id": job.audio_id,
            "question": draft.question,
            "choices": choices,
            "answer": draft.answer,
            "dataset": DATASET,
            "task": task,
            "split": job.split,
            "category": level.category,
            "sub-category": name,
            "difficulty": difficulty,
            "reasoning": format_trace(
                draft.planning, caption(scene), draft.steps, draft.summary, draft.answer
            ),
            "meta": meta,
        }
    ]


def perception_scene(task: str, rng: np.random.Generator) -> dict[str, Any]:
    """The audio of a random reasoning item of `task`, drawn from the whole vocabulary."""
    options = [(s, d) for s in SUBCATEGORIES if s.task == task for d in s.levels]
    sub, difficulty = options[int(rng.integers(len(options)))]
    return sub.generate(rng, difficulty, pools_for("train", perception=True)).scene


def _perception_row(
    job: Job,
    suffix: str,
    task: str,
    sub_category: str,
    choices: list[str],
    answer: str,
    scene: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": f"synth-p-{job.split}-{job.index:05d}-{suffix}",
        "audio_id": job.audio_id,
        "question": PERCEPTION_QUESTIONS[sub_category],
        "choices": choices,
        "answer": answer,
        "dataset": DATASET,
        "task": task,
        "split": job.split,
        "category": "Information Extraction",
        "sub-category": sub_category,
        "difficulty": "easy",
        "meta": scene,
    }


def perception_rows(job: Job) -> list[dict[str, Any]]:
    (task,) = job.group
    scene = perception_scene(task, job.rng())
    write_wav(
        Path(job.out_dir) / job.audio_id, render(scene, job.sample_rate, job.max_seconds), job.sample_rate
    )
    if task == "speech":
        return [
            _perception_row(job, "t", task, "transcription", [], scene["transcript"], scene),
            _perception_row(job, "e", task, "emotion recognition", list(EMOTIONS), scene["emotion"], scene),
        ]
    sub_category = "sound captioning" if task == "sound" else "music captioning"
    return [_perception_row(job, "c", task, sub_category, [], caption(scene), scene)]


def run_job(job: Job) -> list[dict[str, Any]]:
    return reasoning_rows(job) if job.set_name == "reasoning" else perception_rows(job)
