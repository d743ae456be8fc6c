"""How many CPU cores this process may use, and a scoped torch thread count."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def available_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Use `threads` torch threads (None: every available core) inside the block; restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads or available_cores()))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
