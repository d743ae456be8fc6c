"""The bench's models and data: tiny models of the real classes (or the user's), and rows that fill them.

Default models keep the paper's proportions where a 2-core CPU allows it: the textual teacher's decoder
weighs what Qwen3-8B's does over Qwen2.5-Omni-7B's (36 layers of 193 M weights against 28 of 233 M: 1.064 x;
here five layers with a narrower MLP over four, `TEACHER_MLP_PER_HIDDEN`: 1.068 x), both share one output
vocabulary, and each example has an audio clip, a prompt and a reasoning target in roughly
the token shares of audio-reasoning data (CoTA: a clip of several seconds, a trace of a few hundred tokens).
The data rows are written as our JSONL with real wav files and read back through `data.train`, so the
variants go through exactly the loading, view and collation code a user's run does.

Vocabulary against width. What the losses cost next to the model is set by the LM head's size against one
decoder layer's: the logit lens runs the head (V x H) once per mapped layer at every target token, where
the model runs one layer per layer at every token. Qwen2.5-Omni-7B has H = 3584, V = 152064 (V / H = 42)
and layers of 18.1 H^2 weights (GQA with 4 key-value heads, MLP 5.3 H wide), so its head weighs 2.3
layers. The tiny models (`audistill.models.tiny`) have layers of 9 H^2 (half the heads for keys and
values, MLP 2 H wide), so the same 2.3 needs V = 21 H (`VOCAB_PER_HIDDEN`). A tiny model with Qwen's own
V / H, or with a Qwen-sized vocabulary, would have a head worth 5 to 15 layers and overstate every
vocabulary-bound cost (the lens, the top-layer divergence, TRL's full-sequence logits) several times; a
smaller one would understate them. The attention's sequence-length term, relatively larger in tiny models
(short rows of a narrow model), still makes the tiny SFT step somewhat heavier than the 7B's per weight,
which flatters every ratio over SFT by a few percent.

Audio encoder. Whisper-style encoders read a fixed window (30 s for the real students), so Qwen2.5-Omni's
(32 layers, width 1280) costs the same forward for any clip: 1.9 TFLOP, 4 % (30 s clip) to 6 % (10 s clip,
a 500-token trace) of the 7B's SFT step; the acoustic teacher runs it again. The tiny encoders are sized to
that share (about 4 % of the tiny SFT step: width 128 x 4 layers over a 4 s window in the quick preset);
a token-sized encoder would hide what the acoustic teacher's second encoder pass costs.

Tokens. The quick examples (per example: 37 template tokens, 75 audio, about 55 question and template
tokens, 121 target) give the target 42 % of the student's tokens; long CoTA traces give it more (60 % for
a 10 s clip and a 500-token trace). Everything done per target token (the lens, the top-layer divergence)
weighs that much less here than in such data, so the bench's lens share is, if anything, an understatement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

SAMPLE_RATE = 16000

# Words of the tiny tokenizer's corpus (about three tokens each), so token counts are easy to steer.
_TRACE_TEXT = ("the pitch rises so the speaker sounds happy not sad or angry . the clip has speech and noise "
               ". a piano plays a rising melody in major . a dog barks twice . rain falls .")
_TRACE_WORDS = tuple(_TRACE_TEXT.split())


@dataclass(frozen=True)
class BenchShape:
    """Sizes of the default models and of each example (tokens are per example)."""

    student_hidden: int
    student_layers: int
    teacher_hidden: int
    teacher_layers: int
    heads: int
    vocab: int  # output rows of both models
    encoder_dim: int
    encoder_layers: int
    audio_window_s: int  # the encoder's window (the real ones read 30 s)
    audio_seconds: float  # each clip (4 mel frames per audio token: 25 audio tokens per second)
    target_words: int  # words of the reasoning trace
    description_words: int  # words of the description the textual teacher reads
    batch_size: int
    examples: int  # rows written (the cache size figures use all of them)
    teacher_intermediate: int | None = None  # the teacher's MLP width; None: the tiny models' 2 x hidden

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# Output rows per hidden unit that give a tiny model's LM head the weight, in decoder layers, of
# Qwen2.5-Omni-7B's (module notes).
VOCAB_PER_HIDDEN = 21

# The teacher's MLP width per hidden unit that makes five teacher layers weigh 1.068 x four student layers
# (each 3 H^2 of attention and 3 H x MLP width): Qwen3-8B's decoder over Qwen2.5-Omni-7B's is 1.064 x. With
# the tiny models' own 2 H MLP the teacher would weigh 1.25 x and overstate the textual teacher's forward.
TEACHER_MLP_PER_HIDDEN = 1.5625

QUICK_SHAPE = BenchShape(student_hidden=256, student_layers=4, teacher_hidden=256, teacher_layers=5,
                         heads=4, vocab=VOCAB_PER_HIDDEN * 256, encoder_dim=128, encoder_layers=4,
                         audio_window_s=4, audio_seconds=3.0, target_words=27, description_words=15,
                         batch_size=2, examples=8, teacher_intermediate=round(TEACHER_MLP_PER_HIDDEN * 256))
FULL_SHAPE = BenchShape(student_hidden=384, student_layers=8, teacher_hidden=384, teacher_layers=10,
                        heads=6, vocab=VOCAB_PER_HIDDEN * 384, encoder_dim=256, encoder_layers=4,
                        audio_window_s=8, audio_seconds=8.0, target_words=90, description_words=40,
                        batch_size=2, examples=16, teacher_intermediate=round(TEACHER_MLP_PER_HIDDEN * 384))
# For a CUDA device: a 7B's layer width in part (2,048 against 3,584) and depth cut to 8 student layers, so a
# step is large enough to keep the GPU's matrix units busy; CoTA-like rows (10 s clip, 30 s encoder window,
# about 500 target tokens) in batches of 8.
GPU_SHAPE = BenchShape(student_hidden=2048, student_layers=8, teacher_hidden=2048, teacher_layers=10,
                       heads=16, vocab=VOCAB_PER_HIDDEN * 2048, encoder_dim=640, encoder_layers=4,
                       audio_window_s=30, audio_seconds=10.0, target_words=140, description_words=60,
                       batch_size=8, examples=16, teacher_intermediate=round(TEACHER_MLP_PER_HIDDEN * 2048))


@dataclass(frozen=True)
class BenchWorld:
    """Where the bench's models and data live."""

    student: Path
    teacher: Path
    data: Path  # JSONL, audio paths relative to its folder
    built: bool  # True when the models are the bench's own tiny ones


def build_models(root: Path, shape: BenchShape) -> tuple[Path, Path]:
    """Write the default student (Qwen2-Audio) and textual teacher (Qwen3) under `root`."""
    tokenizer = build_tiny_tokenizer()
    student = build_tiny_student(
        "qwen2_audio", root / "student", tokenizer=tokenizer, vocab_size=shape.vocab,
        hidden_size=shape.student_hidden, num_layers=shape.student_layers, num_heads=shape.heads,
        encoder_dim=shape.encoder_dim, encoder_layers=shape.encoder_layers,
        audio_window_s=shape.audio_window_s)
    teacher = build_tiny_text_lm(
        "qwen3", root / "teacher", tokenizer=tokenizer, vocab_size=shape.vocab,
        hidden_size=shape.teacher_hidden, num_layers=shape.teacher_layers, num_heads=shape.heads)
    if shape.teacher_intermediate is not None:
        _remake_with_mlp_width(teacher, shape.teacher_intermediate)
    return student, teacher


def _remake_with_mlp_width(folder: Path, intermediate: int, seed: int = 1) -> None:
    """Re-initialise the causal LM saved in `folder` with MLPs `intermediate` wide (tokenizer kept).

    Done here rather than by a parameter of `build_tiny_text_lm`: models/tiny.py is part of the zoo's
    code hash, and a change there would make every cached zoo (and the recorded one) rebuild."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(folder))
    config.intermediate_size = intermediate
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))


def _words(count: int, offset: int) -> str:
    return " ".join(_TRACE_WORDS[(offset + i) % len(_TRACE_WORDS)] for i in range(count))


def write_rows(folder: Path, shape: BenchShape, seed: int = 0) -> Path:
    """`shape.examples` JSONL rows with wav clips, reasoning traces and descriptions of the shape's sizes.

    Every example has the same clip length and trace length, so a batch has no padding and every variant
    sees the same token counts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = int(SAMPLE_RATE * shape.audio_seconds)
    t = np.arange(samples) / SAMPLE_RATE
    rows = []
    for i in range(shape.examples):
        wave = 0.3 * np.sin(2 * np.pi * (220 + 55 * i) * t) + 0.02 * rng.standard_normal(samples)
        sf.write(folder / f"clip{i}.wav", wave.astype(np.float32), SAMPLE_RATE)
        trace = (f"<THINK><PLANNING>I will listen.</PLANNING><CAPTION>{_words(shape.target_words // 3, i)}"
                 f"</CAPTION><REASONING>{_words(shape.target_words - shape.target_words // 3, i + 7)}"
                 "</REASONING><SUMMARY>Happy.</SUMMARY></THINK><RESPONSE>happy</RESPONSE>")
        rows.append({"id": f"bench{i}", "audio": f"clip{i}.wav",
                     "question": "What is the emotion of the speaker?", "choices": ["happy", "sad"],
                     "answer": "happy", "task": "speech", "reasoning": trace,
                     "description": _words(shape.description_words, i + 3)})
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build_world(root: Path, shape: BenchShape, student: str | None = None,
                teacher: str | None = None) -> BenchWorld:
    """The bench's models (the user's when both paths are given, else tiny ones) and its data rows."""
    if (student is None) != (teacher is None):
        raise ValueError("--student and --teacher go together (a real student needs a real teacher that "
                         "shares its tokenizer)")
    data = write_rows(root / "data", shape)
    if student is not None and teacher is not None:
        return BenchWorld(Path(student), Path(teacher), data, built=False)
    student_path, teacher_path = build_models(root / "models", shape)
    return BenchWorld(student_path, teacher_path, data, built=True)
