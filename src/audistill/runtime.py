"""How many CPU cores this process may use, a scoped torch thread count, and the core's L2 cache size."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path


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


_CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@functools.cache
def l2_cache_bytes(caches: Path = _CPU_CACHES) -> int | None:
    """Bytes of the first core's level-2 cache as Linux reports it (sysfs), or None where it says nothing."""
    try:
        folders = sorted(caches.glob("index*"))
        for folder in folders:
            level = (folder / "level").read_text().strip()
            kind = (folder / "type").read_text().strip()
            if level != "2" or kind not in ("Unified", "Data"):
                continue
            size = (folder / "size").read_text().strip()
            suffix = size[-1:].upper()
            value = int(size[:-1]) * _SIZE_UNITS[suffix] if suffix in _SIZE_UNITS else int(size)
            return value if value > 0 else None
    except (OSError, ValueError):
        return None
    return None
