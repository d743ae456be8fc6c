"""Shared helpers of the distill and train tests (no tests here): tiny models and tiny data on disk.

`tiny_world(root)` writes, through the same code paths a user's checkpoints take, tiny random students
of both families, textual teachers (one with a wider vocabulary than the students) and a JSONL file of
rows with real wav files and a `description` field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper.yaml"

TRACES = [
    ("happy", "<THINK><PLANNING>Listen.</PLANNING><CAPTION>A man speaks.</CAPTION><REASONING>The pitch "
              "rises.</REASONING><SUMMARY>Happy.</SUMMARY></THINK><RESPONSE>happy</RESPONSE>"),
    ("piano", "<THINK><PLANNING>Listen first.</PLANNING><CAPTION>A piano plays.</CAPTION><REASONING>The "
              "timbre is a piano.</REASONING><SUMMARY>Piano.</SUMMARY></THINK><RESPONSE>piano</RESPONSE>"),
    ("two", "<THINK><PLANNING>Count.</PLANNING><CAPTION>Beeps.</CAPTION><REASONING>Two onsets."
            "</REASONING><SUMMARY>Two.</SUMMARY></THINK><RESPONSE>two</RESPONSE>"),
    ("sad", "<THINK><PLANNING>I will listen.</PLANNING><CAPTION>Slow speech.</CAPTION><REASONING>The voice "
            "falls, so sad.</REASONING><SUMMARY>Sad.</SUMMARY></THINK><RESPONSE>sad</RESPONSE>"),
]
QUESTIONS = [("What is the emotion of the speaker?", ["happy", "sad"], "speech"),
             ("Which instrument plays the melody?", ["guitar", "piano"], "music"),
             ("How many beeps are there?", ["one", "two"], "sound"),
             ("What is the emotion of the speaker?", ["happy", "sad"], "speech")]


@dataclass
class TinyWorld:
    root: Path
    qwen2_audio: Path
    omni: Path
    teacher: Path  # qwen3, wider output layer (448) than the students (384)
    teacher_same_vocab: Path  # qwen2, same width as the students
    data: Path  # 4 rows


def write_rows(folder: Path, count: int, name: str = "train.jsonl", seed: int = 0) -> Path:
    """`count` JSONL rows (cycling through 4 items) with wav files of 0.6 to 1.3 s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        answer, trace = TRACES[i % 4]
        question, choices, task = QUESTIONS[i % 4]
        seconds = 0.6 + 0.1 * (i % 8)
        t = np.arange(int(16000 * seconds)) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"clip{i}.wav", wave.astype(np.float32), 16000)
        rows.append({"id": f"ex{i}", "audio": f"clip{i}.wav", "question": question, "choices": choices,
                     "answer": answer, "task": task, "reasoning": trace,
                     "description": f"clip {i}: a voice and a tone at {220 + 110 * i} Hz"})
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_world(root: Path, rows: int = 4) -> TinyWorld:
    tokenizer = build_tiny_tokenizer()
    return TinyWorld(
        root=root,
        qwen2_audio=build_tiny_student("qwen2_audio", root / "q2a", tokenizer=tokenizer),
        omni=build_tiny_student("qwen2_5_omni_thinker", root / "omni", tokenizer=tokenizer),
        teacher=build_tiny_text_lm("qwen3", root / "teacher", tokenizer=tokenizer, vocab_size=448),
        teacher_same_vocab=build_tiny_text_lm("qwen2", root / "teacher2", tokenizer=tokenizer),
        data=write_rows(root / "data", rows),
    )


def run_overrides(world: TinyWorld, out: Path, *, student: Path | None = None, teacher: Path | None = None,
                  steps: int = 2, **extra: object) -> list[str]:
    """--set overrides that turn configs/paper.yaml into a tiny CPU run of `steps` optimizer steps."""
    sets = {
        "student.path": student or world.qwen2_audio, "student.dtype": "float32", "student.device": "cpu",
        "textual_teacher.path": teacher or world.teacher, "textual_teacher.dtype": "float32",
        "data.train": world.data, "train.output_dir": out, "train.max_steps": steps, "train.batch_size": 2,
        "train.grad_accum": 1, "train.lr": 1e-3, "train.warmup_ratio": 0.25, "train.save_every": 1000,
    }
    sets.update(extra)
    return [f"{key}={value}" for key, value in sets.items()]
