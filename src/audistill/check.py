"""`audistill check`: a dry run of everything before the first training step.

Loads the student and the textual teacher of a config, builds the first batches of `data.train` as
training would (views, alignment of the targets, the audio guard), runs one forward pass of both models
on the first batch, and reports per example the student, audio, teacher and target token counts, the
shared vocabulary and the layer pairs each teacher maps. Any inconsistency is collected as a problem;
the command exits non-zero when there is one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table
from rich.text import Text

from audistill.config import ConfigError, RunConfig
from audistill.data.example import Example
from audistill.data.readers import iter_rows
from audistill.data.rows import DataError
from audistill.distill.layer_maps import layer_pairs_from_config
from audistill.models.adaptor import AudioStudentAdaptor, TextLMAdaptor
from audistill.models.checkpoint import ModelLoadError
from audistill.models.load import load_student, load_text_teacher
from audistill.models.trainable import TrainableSetupError
from audistill.models.vocab import VocabError, shared_vocab
from audistill.views import AudioGuardError, PairBatch, ViewBuilder, ViewError


@dataclass
class ExampleCounts:
    example_id: str
    student_tokens: int
    audio_tokens: int
    teacher_tokens: int | None
    target_tokens: int


@dataclass
class CheckReport:
    """What the dry run found; `ok` when nothing is inconsistent."""

    student_family: str = ""
    student_layers: int = 0
    teacher_layers: int | None = None
    student_vocab: int = 0
    teacher_vocab: int | None = None
    shared_vocab: int | None = None
    masked_ids: tuple[int, ...] = ()
    textual_pairs: list[tuple[int, int]] = field(default_factory=list)
    acoustic_pairs: list[tuple[int, int]] = field(default_factory=list)
    trainable_parameters: int = 0
    examples: list[ExampleCounts] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def first_examples(cfg: RunConfig, count: int) -> tuple[list[Example], list[str]]:
    """The first `count` readable rows of data.train, and a problem line for every unreadable one."""
    if cfg.data.train is None:
        raise DataError("data.train: no training file configured")
    limit = min(count, cfg.data.max_examples) if cfg.data.max_examples else count
    examples: list[Example] = []
    problems: list[str] = []
    for item in itertools.islice(iter_rows(cfg.data.train, cfg.data.format, cfg.data.audio_root), limit):
        if isinstance(item.result, Example):
            examples.append(item.result)
        else:
            problems.append(f"data.train: {item.result.line()}")
    if not examples and not problems:
        problems.append(f"data.train: {cfg.data.train} holds no rows")
    return examples, problems


def _layer_pairs(report: CheckReport, cfg: RunConfig) -> None:
    tt, at = cfg.textual_teacher, cfg.acoustic_teacher
    try:
        if tt.enabled and report.teacher_layers is not None:
            report.textual_pairs = layer_pairs_from_config(tt.layers, report.student_layers,
                                                           report.teacher_layers, "textual_teacher.layers")
        if at.enabled:
            report.acoustic_pairs = layer_pairs_from_config(at.layers, report.student_layers,
                                                            report.student_layers, "acoustic_teacher.layers")
    except ConfigError as exc:
        report.problems.append(str(exc))


def _forward_check(report: CheckReport, batch: PairBatch, student: AudioStudentAdaptor,
                   teacher: TextLMAdaptor | None) -> None:
    """One forward pass of each model on the first batch: shapes and target ids must agree."""
    with torch.no_grad():
        s_rec = student.forward(batch.student, want_hidden=False, want_audio_hidden=True)
        if s_rec.audio_tokens_per_example != batch.student.audio_counts():
            report.problems.append("student forward: audio positions differ from the batch's audio tokens")
        if teacher is None or batch.teacher is None:
            return
        t_rec = teacher.forward(batch.teacher, want_hidden=False)
    if s_rec.tokens_per_example != t_rec.tokens_per_example or not torch.equal(
            s_rec.target_ids.cpu(), t_rec.target_ids.cpu()):
        report.problems.append("forward: student and teacher records disagree on the target tokens")
    if report.shared_vocab is not None and t_rec.target_ids.numel():
        top = int(t_rec.target_ids.max())
        if top >= report.shared_vocab:
            report.problems.append(f"target token id {top} lies outside the shared vocabulary "
                                   f"[0, {report.shared_vocab})")


def run_check(cfg: RunConfig, batches: int = 2, forward: bool = True) -> CheckReport:
    """Load the models of `cfg`, build the first `batches` batches of data.train and check them."""
    report = CheckReport()
    try:
        student = load_student(cfg.student)
        teacher = None
        if cfg.textual_teacher.enabled:
            teacher = load_text_teacher(cfg.textual_teacher, student_device=str(student.device))
    except (ModelLoadError, TrainableSetupError) as exc:
        report.problems.append(str(exc))
        return report
    report.student_family = student.family
    report.student_layers = student.num_layers
    report.student_vocab = student.vocab_size
    report.trainable_parameters = sum(p.numel() for _, p in student.trainable_parameters())
    if teacher is not None:
        report.teacher_layers, report.teacher_vocab = teacher.num_layers, teacher.vocab_size
        try:
            vocab = shared_vocab(student.vocab_size, teacher.vocab_size, cfg.textual_teacher.mask_token_ids)
            report.shared_vocab, report.masked_ids = vocab.size, vocab.masked_ids
        except VocabError as exc:
            report.problems.append(str(exc))
    _layer_pairs(report, cfg)

    try:
        examples, problems = first_examples(cfg, batches * cfg.train.batch_size)
    except DataError as exc:
        report.problems.append(str(exc))
        return report
    report.problems.extend(problems)
    builder = ViewBuilder.for_models(student, teacher, system_prompt=cfg.student.system_prompt,
                                     description_field=cfg.textual_teacher.description_field,
                                     max_length=cfg.student.max_length)
    first_batch: PairBatch | None = None
    size = cfg.train.batch_size
    for start in range(0, len(examples), size):
        pairs = []
        for example in examples[start:start + size]:
            try:
                pairs.append(builder.pair(example))
            except ViewError as exc:
                report.problems.append(str(exc))
        if not pairs:
            continue
        try:
            batch = builder.collate(pairs)
        except (AudioGuardError, ViewError) as exc:
            report.problems.append(str(exc))
            continue
        first_batch = first_batch or batch
        teacher_counts = batch.teacher.target_counts() if batch.teacher is not None else None
        s_lengths = batch.student.attention_mask.sum(dim=1).tolist()
        t_lengths = batch.teacher.attention_mask.sum(dim=1).tolist() if batch.teacher is not None else None
        for row, pair in enumerate(pairs):
            report.examples.append(ExampleCounts(
                example_id=pair.student.example_id,
                student_tokens=int(s_lengths[row]),
                audio_tokens=pair.student.audio_tokens,
                teacher_tokens=int(t_lengths[row]) if t_lengths is not None else None,
                target_tokens=batch.student.target_counts()[row],
            ))
            if teacher_counts is not None and teacher_counts[row] != batch.student.target_counts()[row]:
                report.problems.append(f"example {pair.student.example_id!r}: target token counts differ")
    if forward and first_batch is not None and report.ok:
        try:
            _forward_check(report, first_batch, student, teacher)
        except (RuntimeError, ValueError) as exc:
            report.problems.append(f"forward pass failed: {exc}")
    if not report.examples and report.ok:
        report.problems.append("no batch could be built from data.train")
    return report


def print_report(report: CheckReport, console: Console) -> None:
    """The per-example table, the models' geometry, the layer pairs and every problem."""
    if report.examples:
        table = Table(title="first batches of data.train")
        for name in ("example", "student tokens", "audio tokens", "teacher tokens", "target tokens"):
            table.add_column(name, justify="left" if name == "example" else "right")
        for row in report.examples:
            teacher = "-" if row.teacher_tokens is None else str(row.teacher_tokens)
            table.add_row(Text(row.example_id), str(row.student_tokens), str(row.audio_tokens), teacher,
                          str(row.target_tokens))
        console.print(table)
    if report.student_family:
        console.print(f"student: {report.student_family}, {report.student_layers} layers, vocabulary "
                      f"{report.student_vocab}, {report.trainable_parameters:,} trainable parameters",
                      highlight=False, soft_wrap=True)
    if report.teacher_layers is not None:
        console.print(f"textual teacher: {report.teacher_layers} layers, vocabulary {report.teacher_vocab}",
                      highlight=False, soft_wrap=True)
        masked = f", {len(report.masked_ids)} masked id(s)" if report.masked_ids else ""
        console.print(f"shared vocabulary: {report.shared_vocab}{masked}", highlight=False, soft_wrap=True)
        console.print(f"textual layer pairs (student, teacher): {_pairs(report.textual_pairs)}",
                      highlight=False, soft_wrap=True)
    if report.acoustic_pairs or report.student_family:
        console.print(f"acoustic layer pairs (student, frozen student): {_pairs(report.acoustic_pairs)}",
                      highlight=False, soft_wrap=True)
    for problem in report.problems:
        console.print(Text.assemble(("problem: ", "bold red"), problem), soft_wrap=True)
    if report.ok:
        console.print("[bold green]check passed[/]")


def _pairs(pairs: list[tuple[int, int]]) -> str:
    return ", ".join(f"({s}, {t})" for s, t in pairs) if pairs else "none"
