"""The base student's descriptions of the train split's audio, written by several worker processes.

`textualize_file` keeps its own progress bar, partial file and resumability; it hands each batch to a
describer. This describer splits the batch into one slice per worker process (each holding the student,
one torch thread: the nano student's generation is fastest that way, see runner.py) and joins the texts
in order, so the work of a batch is spread over the cores.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import TracebackType

from audistill.data.example import Example

_describe: Callable[[Sequence[Example]], list[str]] | None = None


def _load(model: str, batch_size: int) -> None:
    global _describe
    import torch
    from transformers.utils import logging as hf_logging

    from audistill.textualize.run import student_describer

    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    _describe = student_describer(model, batch_size)


def _describe_slice(examples: Sequence[Example]) -> list[str]:
    assert _describe is not None, "worker started without its student"
    return _describe(examples)


def slices(examples: Sequence[Example], parts: int) -> list[list[Example]]:
    """`examples` cut into at most `parts` contiguous, near-equal, non-empty slices, in order."""
    size, extra = divmod(len(examples), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        if end > start:
            out.append(list(examples[start:end]))
        start = end
    return out


class ParallelDescriber:
    """A `textualize_file` describer over `workers` processes; use as a context manager."""

    def __init__(self, model: Path, batch_size: int, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_load, initargs=(str(model), batch_size))

    def __call__(self, examples: Sequence[Example]) -> list[str]:
        return [text for part in self._pool.map(_describe_slice, slices(examples, self.workers))
                for text in part]

    def __enter__(self) -> ParallelDescriber:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._pool.shutdown(wait=error is None, cancel_futures=True)
