"""The most complete pipeline that runs today, end to end, on this machine (`make demo`).

synth (small) -> validate -> textualize (oracle descriptions) -> a randomly initialised nano
Qwen2-Audio student and Qwen3 teacher with a tokenizer trained on the benchmark's text -> check ->
distill with the paper's objective (layer-wise text KD + acoustic KD + SFT) -> eval -> score.

The models are random, so the numbers it prints say nothing about the method: it shows that every
stage runs and connects. `audistill demo` (the paper's ladder with trained nano models) replaces it
once the model zoo lands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/pipeline")


def audistill(*args: str) -> None:
    print(f"\n$ audistill {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "audistill", *args], check=True)


def main() -> None:
    from audistill.data.readers import read_examples
    from audistill.models.tiny import build_tiny_student, build_tiny_text_lm, build_tiny_tokenizer

    data = OUT / "data"
    if not (data / "CARD.md").is_file():
        audistill("synth", "--out", str(data), "--size", "small", "--seed", "0")
    audistill("validate", str(data / "train.json"))
    train = OUT / "train.oracle.json"
    audistill("textualize", str(data / "train.json"), "--out", str(train), "--mode", "oracle")
    models = OUT / "models"
    if not (models / "teacher" / "config.json").is_file():
        examples = read_examples(train)
        corpus = [f"{e.question} {' '.join(e.choices)} {e.reasoning} {e.description}" for e in examples]
        tokenizer = build_tiny_tokenizer(None, vocab_size=800, corpus=corpus)
        build_tiny_student("qwen2_audio", models / "student", tokenizer=tokenizer, hidden_size=64,
                           num_layers=4, audio_window_s=5)
        build_tiny_text_lm("qwen3", models / "teacher", tokenizer=tokenizer, hidden_size=64, num_layers=6)
    sets = ["--set", f"student.path={models / 'student'}",
            "--set", f"textual_teacher.path={models / 'teacher'}",
            "--set", "student.dtype=float32", "--set", "textual_teacher.dtype=float32",
            "--set", f"data.train={train}", "--set", f"train.output_dir={OUT / 'run'}",
            "--set", "train.max_steps=20", "--set", "train.batch_size=8", "--set", "train.grad_accum=1",
            "--set", "train.lr=1e-3", "--set", "train.save_every=10", "--set", "train.mixed_precision='no'"]
    audistill("check", "configs/paper.yaml", *sets)
    if not (OUT / "run" / "final" / "config.json").is_file():
        audistill("distill", "configs/paper.yaml", *sets, *(["--resume"] if (OUT / "run").exists() else []))
    audistill("eval", "--model", str(OUT / "run" / "final"), "--data", str(data / "test.json"),
              "--out", str(OUT / "eval"), "--max-new-tokens", "64")
    audistill("score", str(OUT / "eval" / "predictions.json"))
    last = (OUT / "run" / "metrics.jsonl").read_text().splitlines()[-1]
    print(f"\nlast training step: {json.loads(last)}\noutputs under {OUT}", flush=True)


if __name__ == "__main__":
    main()
