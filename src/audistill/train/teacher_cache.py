"""`audistill cache`: run the textual teacher once over data.train and store its top-k signals.

Only the teacher is loaded (plus the student's tokenizer and config.json, for the target alignment check
and the shared vocabulary width). Each example's teacher view is built as training builds it; its
targets must be the same ids the student's tokenizer gives. The teacher's log-probabilities at the
target positions are tempered, masked and restricted to the shared vocabulary exactly as in training,
and the top `textual_teacher.cache_k` of them are written with `TeacherCacheWriter` into
`textual_teacher.cache_dir` under the run's `CacheKey` (see `audistill.distill.sources`). Examples
already held by complete shards are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import torch

from audistill.config import ConfigError, RunConfig
from audistill.data.validate import load_configured
from audistill.distill.cache import TeacherCacheWriter
from audistill.distill.sources import cache_key, output_width, read_textual_teacher
from audistill.distill.token_losses import DivergenceSpec, teacher_topk
from audistill.models.adaptor import AudioFormat
from audistill.models.checkpoint import resolve_checkpoint
from audistill.models.load import load_text_teacher
from audistill.models.vocab import VocabError, shared_vocab
from audistill.views import TextView, ViewBuilder, check_alignment, collate_texts


def build_teacher_cache(cfg: RunConfig, show_progress: bool = True, shard_examples: int = 256) -> Path:
    """Write (or finish) the teacher cache of `cfg`; return its folder."""
    tt = cfg.textual_teacher
    if not tt.cache_dir:
        raise ConfigError("textual_teacher.cache_dir: required by `audistill cache` (where to write)")
    from transformers import AutoTokenizer

    student_folder = resolve_checkpoint(cfg.student.path, "student.path")
    student_tokenizer = AutoTokenizer.from_pretrained(str(student_folder),
                                                      trust_remote_code=cfg.student.trust_remote_code)
    teacher = load_text_teacher(tt)
    try:
        vocab = shared_vocab(output_width(cfg.student.path, "student.path"), teacher.vocab_size,
                             tt.mask_token_ids)
    except VocabError as exc:
        raise ConfigError(str(exc)) from None
    spec = DivergenceSpec.from_config(tt, vocab_size=vocab.size)
    writer = TeacherCacheWriter(tt.cache_dir, cache_key(cfg, teacher.tokenizer, vocab.size), shard_examples)
    examples = load_configured(cfg.data, "train", show_progress=show_progress)
    todo = [e for e in examples if e.id not in writer.done_ids]
    # Teacher views never read the audio format; the student side is only its tokenizer here.
    builder = ViewBuilder(student_tokenizer, cast(AudioFormat, None), teacher.tokenizer,
                          system_prompt=cfg.student.system_prompt, description_field=tt.description_field,
                          max_length=cfg.student.max_length)
    size = tt.cache_batch_size
    with _progress(show_progress, len(examples), len(examples) - len(todo)) as tick:
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            views = []
            for example in chunk:
                view = builder.teacher_view(example)
                target = builder.target_ids(student_tokenizer, example)
                student_view = TextView(example.id, target, target)
                check_alignment(example.id, student_view, view, student_tokenizer, teacher.tokenizer)
                views.append(view)
            _add(writer, teacher, views, builder, spec, tt.cache_k)
            tick(len(chunk))
    return writer.finish()


@torch.no_grad()
def _add(writer: TeacherCacheWriter, teacher: Any, views: list[TextView], builder: ViewBuilder,
         spec: DivergenceSpec, k: int) -> None:
    record = read_textual_teacher(teacher, collate_texts(views, builder.teacher_pad_id), want_hidden=False)
    ids, logprobs = teacher_topk(record.response_logits, k, spec)
    start = 0
    for view, count in zip(views, record.tokens_per_example, strict=True):
        writer.add(view.example_id, ids[start:start + count], logprobs[start:start + count])
        start += count


@contextlib.contextmanager
def _progress(show: bool, total: int, done: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (or nothing); yields `tick(n)`."""
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("teacher cache"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task("cache", total=total, completed=done)
        yield lambda n: bar.advance(task, n)
