"""`build_zoo`: tokenizer, nano student, nano teacher, evaluation, ZOO.md and zoo.json, cached and atomic.

Layout of the output folder:

    student/   Qwen2AudioForConditionalGeneration checkpoint (+ tokenizer, feature extractor)
    teacher/   Qwen3ForCausalLM checkpoint (+ tokenizer)
    eval/      the dev predictions behind every figure (MMAU JSON with model_output)
    zoo.json   figures, gates, parameters, timings, config, cache key
    ZOO.md     the card

Everything is built in a sibling temporary folder and renamed into place at the end, so an interrupted
build never leaves a half zoo; a folder whose zoo.json holds the current cache key is reused as is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from audistill.data.example import Example
from audistill.data.validate import load_dataset
from audistill.io import atomic_write_json, atomic_write_text
from audistill.models.adaptor import AudioStudentAdaptor, TextLMAdaptor
from audistill.models.checkpoint import quiet_hf
from audistill.models.load import load_adaptor
from audistill.models.tiny import build_tiny_tokenizer
from audistill.models.zoo.card import render_card
from audistill.models.zoo.config import Phase, ZooConfig, budget_config
from audistill.models.zoo.gates import ZooEvaluation
from audistill.models.zoo.key import cache_key, code_version, data_hash
from audistill.models.zoo.loop import PhaseStats
from audistill.models.zoo.nets import feature_extractor, parameter_count, student_model, teacher_model
from audistill.models.zoo.parallel import TeacherJob, TeacherProcess
from audistill.models.zoo.student import StudentTrainer
from audistill.models.zoo.teacher import teacher_views, train_teacher
from audistill.models.zoo.texts import (
    ZooDataError,
    clip_tasks,
    teacher_examples,
    text_only_examples,
    tokenizer_corpus,
    unique_clips,
)
from audistill.run_record import package_versions
from audistill.runtime import available_cores, torch_threads
from audistill.views import DEFAULT_SYSTEM_PROMPT

DATA_FILES: dict[str, str] = {
    "train": "train.json",
    "dev": "dev.json",
    "perception_train": "perception/train.json",
    "perception_dev": "perception/dev.json",
}
ZOO_JSON = "zoo.json"
CARD = "ZOO.md"


@dataclass
class ZooResult:
    """Where the zoo is, its cache key, its zoo.json, and whether an existing build was reused."""

    folder: Path
    key: str
    zoo: dict[str, Any]
    reused: bool

    @property
    def student(self) -> Path:
        return self.folder / "student"

    @property
    def teacher(self) -> Path:
        return self.folder / "teacher"

    @property
    def passed(self) -> bool:
        return bool(self.zoo.get("passed"))


def load_data(folder: Path) -> dict[str, list[Example]]:
    """The four synth files the zoo reads, validated (row structure; audio is decoded later)."""
    missing = [rel for rel in DATA_FILES.values() if not (folder / rel).is_file()]
    if missing:
        raise ZooDataError(f"--data {folder}: missing {', '.join(missing)} (make it with `audistill synth "
                           f"--out {folder}`)")
    return {name: load_dataset(folder / rel, check_audio=False) for name, rel in DATA_FILES.items()}


def read_zoo_json(folder: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((folder / ZOO_JSON).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _reusable(folder: Path, key: str) -> dict[str, Any] | None:
    zoo = read_zoo_json(folder)
    if zoo is None or zoo.get("key") != key:
        return None
    if not all((folder / name / "config.json").is_file() for name in ("student", "teacher")):
        return None
    return zoo


def _progress(console: Console | None, show: bool) -> Progress | None:
    if not show:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[losses]}"), console=console or Console(stderr=True))


def _install(built: Path, out: Path) -> None:
    """Rename the finished build into place; the previous zoo (if any) is removed afterwards."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(built, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and read_zoo_json(out) is None)):
        raise ZooDataError(f"--out {out}: exists and is not a zoo folder (no {ZOO_JSON}); choose another "
                           "folder or remove it")


def _phase_json(stats: PhaseStats, phase: Phase) -> dict[str, Any]:
    return {**stats.to_json(), "batch_size": phase.batch_size, "lr": phase.lr, "optimizer": phase.optimizer}


def load_zoo_model(path: Path, device: str) -> Any:
    with quiet_hf():
        return load_adaptor(str(path), dtype="float32", device=device)


def build_zoo(
    data: str | Path,
    out: str | Path,
    *,
    budget: str = "demo",
    seed: int = 0,
    config: ZooConfig | None = None,
    force: bool = False,
    threads: int | None = None,
    device: str = "cpu",
    console: Console | None = None,
    show_progress: bool = True,
) -> ZooResult:
    """Train (or reuse) the nano student and teacher on the synth benchmark in `data`; write them to `out`.

    `config` overrides the named `budget` (demo | quick | tiny) and `seed`. `force` rebuilds even when
    the cache key matches.
    """
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    data, out = Path(data), Path(out)
    cfg = config or budget_config(budget, seed)
    _check_out(out)
    splits = load_data(data)
    audio = [e.audio for rows in splits.values() for e in rows]
    key = cache_key(data_hash([data / rel for rel in DATA_FILES.values()], audio), cfg, code_version())
    if not force and (zoo := _reusable(out, key)) is not None:
        if console is not None:
            console.print(f"zoo: reusing {out} (cache key {key})", highlight=False)
        return ZooResult(out, key, zoo, reused=True)

    timings: dict[str, float] = {"prepare_seconds": time.perf_counter() - started}
    built = out.with_name(f".{out.name}.build-{os.getpid()}")
    shutil.rmtree(built, ignore_errors=True)
    built.mkdir(parents=True)
    try:
        total_threads = max(1, threads or available_cores())
        # Two or more threads: the teacher trains in a child process beside the student (half each; all of
        # them once the student is done).
        parallel = total_threads >= 2
        student_threads = total_threads // 2 if parallel else total_threads
        with torch_threads(student_threads):
            zoo = _build(splits, cfg, built, device, timings, console, show_progress,
                         teacher_threads=total_threads - student_threads if parallel else 0)
        timings["total_seconds"] = time.perf_counter() - started
        zoo.update(key=key, budget=budget if config is None else "custom", threads=total_threads,
                   parallel=parallel,
                   timings={k: round(v, 1) for k, v in timings.items()},
                   load_average={"start": load_start, "end": os.getloadavg()[0]},
                   built_at=datetime.now(UTC).isoformat(timespec="seconds"), versions=package_versions())
        zoo["data"]["folder"] = str(data)
        atomic_write_json(built / ZOO_JSON, zoo)
        atomic_write_text(built / CARD, render_card(zoo))
        _install(built, out)
    finally:
        shutil.rmtree(built, ignore_errors=True)
    if console is not None:
        for gate in zoo["gates"]:
            console.print(f"  {gate['key']} = {gate['value']} ({gate['op']} {gate['threshold']}): "
                          f"{'pass' if gate['passed'] else 'FAIL'}", highlight=False)
        console.print(f"zoo: {out} in {timings['total_seconds']:.0f} s; card {out / CARD}", highlight=False)
    return ZooResult(out, key, zoo, reused=False)


def _build(splits: dict[str, list[Example]], cfg: ZooConfig, folder: Path, device: str,
           timings: dict[str, float], console: Console | None, show_progress: bool,
           teacher_threads: int) -> dict[str, Any]:
    """Train and evaluate both models in `folder`; the teacher in a child process when `teacher_threads`."""
    system = DEFAULT_SYSTEM_PROMPT
    clips = unique_clips(splits["perception_train"] + splits["train"])
    tasks = [task for clip in clips for task in clip_tasks(clip)]
    text_only = text_only_examples(cfg.teacher_text_items, cfg.seed + 1_000_003,
                                   dict(cfg.teacher_text_shares))
    teacher_items = teacher_examples(splits["train"] + text_only)
    tokenizer = build_tiny_tokenizer(None, vocab_size=cfg.vocab_size,
                                     corpus=tokenizer_corpus(tasks, teacher_items, system))
    student_dir, teacher_dir = folder / "student", folder / "teacher"
    with quiet_hf():
        student_model(cfg.student, tokenizer, cfg.seed).save_pretrained(str(student_dir))
        teacher_model(cfg.teacher, tokenizer, cfg.seed + 100).save_pretrained(str(teacher_dir))
    for target in (student_dir, teacher_dir):
        tokenizer.save_pretrained(str(target))
    feature_extractor(cfg.student).save_pretrained(str(student_dir))

    progress = _progress(console, show_progress)
    with progress if progress is not None else contextlib.nullcontext():
        mark = time.perf_counter()
        student = load_zoo_model(student_dir, device)
        assert isinstance(student, AudioStudentAdaptor)
        audio_format = student.audio_format
        job = TeacherJob(teacher_dir, teacher_items, cfg, system, audio_format, device, teacher_threads)
        child = TeacherProcess(job, progress) if teacher_threads else None
        trainer = StudentTrainer(student, cfg, system)
        clip_items, task_items = trainer.prepare(clips, tasks, progress)
        timings["student_views_seconds"] = time.perf_counter() - mark
        encoder_stats, joint_stats = trainer.train(clip_items, task_items, progress)
        timings["student_encoder_seconds"] = encoder_stats.seconds
        timings["student_joint_seconds"] = joint_stats.seconds
        with quiet_hf():
            student.hf_model.save_pretrained(str(student_dir))
        if child is not None:  # the student's cores are free: the teacher's remaining steps take them
            child.lend_threads(teacher_threads + torch.get_num_threads())
        student_parameters = parameter_count(student.hf_model)
        encoder_parameters = parameter_count(student.hf_model.model.audio_tower)
        del trainer, clip_items, task_items, student

        if child is None:
            mark = time.perf_counter()
            teacher = load_zoo_model(teacher_dir, device)
            assert isinstance(teacher, TextLMAdaptor)
            views = teacher_views(teacher, audio_format, teacher_items, system)
            teacher_stats = train_teacher(teacher, views, cfg, progress)
            with quiet_hf():
                teacher.hf_model.save_pretrained(str(teacher_dir))
            longest_target = max(len(v.target_ids) for v in views)
            del teacher, views
            timings["teacher_seconds"] = time.perf_counter() - mark
        else:
            teacher_stats, longest_target = child.wait()
            timings["teacher_seconds"] = teacher_stats.seconds
        teacher_parameters = parameter_count(load_zoo_model(teacher_dir, device).hf_model)

        mark = time.perf_counter()
        # Reload both from disk: the figures are those of the saved checkpoints, read as users read them.
        student, teacher = load_zoo_model(student_dir, device), load_zoo_model(teacher_dir, device)
        evaluation = ZooEvaluation(student, teacher, system, cfg.eval_batch_size, longest_target + 16,
                                   folder / "eval", progress)
        limit = cfg.eval_limit
        # Generation is a long chain of tiny matrix products: one thread is fastest (several threads
        # spend more time waiting for each other than computing, badly so on a busy machine).
        with torch_threads(1):
            evaluation.perception(splits["perception_dev"][:limit])
            evaluation.reasoning(splits["dev"][:limit])
        timings["eval_seconds"] = time.perf_counter() - mark

    gates = evaluation.gates()
    training = {
        "student_encoder": _phase_json(encoder_stats, cfg.encoder),
        "student_joint": _phase_json(joint_stats, cfg.joint),
        "teacher": _phase_json(teacher_stats, cfg.teacher_phase),
    }
    return {
        "student": {**evaluation.figures["student"], "path": "student",
                    "class": "Qwen2AudioForConditionalGeneration", "parameters": student_parameters,
                    "encoder_parameters": encoder_parameters,
                    "training_seconds": round(encoder_stats.seconds + joint_stats.seconds, 1)},
        "teacher": {**evaluation.figures["teacher"], "path": "teacher", "class": "Qwen3ForCausalLM",
                    "parameters": teacher_parameters, "training_seconds": round(teacher_stats.seconds, 1)},
        "gates": gates,
        "passed": all(g["passed"] for g in gates),
        "eval_counts": evaluation.counts,
        "training": training,
        "tokenizer": {"size": len(tokenizer), "vocab_size_cap": cfg.vocab_size},
        "data": {"student_clips": len(clips), "student_tasks": len(tasks),
                 "teacher_items": len(teacher_items), **{name: len(rows) for name, rows in splits.items()}},
        "config": cfg.to_json(),
    }
