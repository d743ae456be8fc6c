"""Train the textual teacher in a child process while the student trains in this one.

The zoo trains the two side by side, one CPU thread each. The teacher takes longer (about 3,000 of
the demo build's seconds against the student's 2,000), so when the student is done the parent lends
the teacher its threads too (`TeacherProcess.lend_threads`). Measured on the demo teacher alone: 80
steps take 40 s on two threads against 65 s on one (40 steps: 19 against 37 s) and end on the same
bits (150 steps too). The child reports progress through a queue, which a thread of the parent
forwards to the parent's rich progress display; it sends its phase statistics (or the error's
traceback) when done.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audistill.data.example import Example
from audistill.models.zoo.config import ZooConfig
from audistill.models.zoo.loop import PhaseStats


class QueueProgress:
    """The part of rich's Progress that `train_phase` uses, forwarded through a queue."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.tasks = 0

    def add_task(self, description: str, total: int, losses: str = "") -> int:
        self.tasks += 1
        self.channel.put(("add", self.tasks, description, total))
        return self.tasks

    def update(self, task: int, advance: int = 0, losses: str = "") -> None:
        self.channel.put(("update", task, advance, losses))

    def advance(self, task: int) -> None:
        self.update(task, advance=1)


@dataclass
class TeacherJob:
    """What the child needs to train and save the teacher."""

    folder: Path
    examples: Sequence[Example]
    config: ZooConfig
    system_prompt: str
    audio_format: Any
    device: str
    threads: int


def _teacher_main(job: TeacherJob, channel: Any, threads: Any) -> None:
    try:
        import torch

        from audistill.models.adaptor import TextLMAdaptor
        from audistill.models.checkpoint import quiet_hf
        from audistill.models.zoo.build import load_zoo_model
        from audistill.models.zoo.teacher import teacher_views, train_teacher

        torch.set_num_threads(job.threads)
        teacher = load_zoo_model(job.folder, job.device)
        assert isinstance(teacher, TextLMAdaptor)
        views = teacher_views(teacher, job.audio_format, job.examples, job.system_prompt)
        stats = train_teacher(teacher, views, job.config, QueueProgress(channel),
                              threads=lambda: threads.value)  # at least 1: lend_threads sees to it
        with quiet_hf():
            teacher.hf_model.save_pretrained(str(job.folder))
        channel.put(("done", stats, max(len(v.target_ids) for v in views)))
    except BaseException:  # the parent re-raises it with the child's traceback
        channel.put(("error", traceback.format_exc()))


class TeacherProcess:
    """The teacher's training in a spawned child; `wait()` returns (PhaseStats, longest target)."""

    def __init__(self, job: TeacherJob, progress: Any | None) -> None:
        context = mp.get_context("spawn")
        self.channel = context.Queue()
        self.threads = context.Value("i", job.threads)  # read by the child before every step
        self.process = context.Process(target=_teacher_main, args=(job, self.channel, self.threads),
                                       daemon=True)
        self.progress = progress
        self.result: tuple[PhaseStats, int] | None = None
        self.error: str | None = None
        self.process.start()
        self.pump = threading.Thread(target=self._forward, daemon=True)
        self.pump.start()

    def _forward(self) -> None:
        bars: dict[int, Any] = {}
        while True:
            try:
                message = self.channel.get(timeout=1.0)
            except queue_module.Empty:
                if not self.process.is_alive():
                    self.error = self.error or f"teacher process exited with code {self.process.exitcode}"
                    return
                continue
            kind = message[0]
            if kind == "add" and self.progress is not None:
                bars[message[1]] = self.progress.add_task(message[2], total=message[3], losses="")
            elif kind == "update" and self.progress is not None and message[1] in bars:
                self.progress.update(bars[message[1]], advance=message[2], losses=message[3])
            elif kind == "done":
                self.result = (message[1], message[2])
                return
            elif kind == "error":
                self.error = message[1]
                return

    def lend_threads(self, threads: int) -> None:
        """Let the teacher's next steps use `threads` torch threads (the cores the parent no longer needs)."""
        self.threads.value = max(1, threads)

    def wait(self) -> tuple[PhaseStats, int]:
        self.pump.join()
        self.process.join()
        if self.result is None:
            raise RuntimeError(f"training the zoo's teacher failed in its child process:\n{self.error}")
        return self.result
