"""Bytes on disk per target token of the textual-teacher cache, written by the real `audistill cache` path."""

from __future__ import annotations

from pathlib import Path

from audistill.config import RunConfig
from audistill.distill.cache import cache_bytes_per_token
from audistill.train.teacher_cache import build_teacher_cache


def build_caches(cfg: RunConfig, ks: tuple[int, ...], folder_of: dict[int, Path]) -> dict[str, float]:
    """Write one cache of the run's training data per k (`build_teacher_cache`, as `audistill cache`
    does) into `folder_of[k]`; return bytes per target token keyed by str(k)."""
    sizes: dict[str, float] = {}
    for k in ks:
        tt = cfg.textual_teacher.model_copy(update={"cache_k": k, "cache_dir": str(folder_of[k])})
        folder = build_teacher_cache(cfg.model_copy(update={"textual_teacher": tt}), show_progress=False)
        sizes[str(k)] = cache_bytes_per_token(folder)
    return sizes
