"""Peak memory of a training step, each variant in a fresh process.

Method. A variant runs in its own Python process, so nothing another variant allocated (or the
allocator kept) is counted. On CUDA the figure is `torch.cuda.max_memory_allocated()` over the
measured steps (every tensor the process holds: weights, optimizer state, activations). On CPU torch
has no allocator statistics, and tracemalloc does not see its buffers, so the figure is the resident
set: the kernel's peak (VmHWM in /proc/self/status) over the measured steps, reset just before them
through /proc/self/clear_refs, minus the resident size before any model was loaded (interpreter,
libraries and the model code that loading imports). glibc is told to map every block above 64 KiB
on its own (MALLOC_MMAP_THRESHOLD_), so freed buffers go back to the kernel at once and the resident
set follows live allocations. Weights are copied out of the memory-mapped checkpoint first (see
`_materialise`). One untimed step runs first, so the optimizer state exists, as it does
in every later step.

Child protocol: `python -m audistill.bench.memory SPEC.json RESULT.json`, SPEC holding the variant
name, its config overrides, the thread count and the number of measured steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
CPU_METHOD = ("resident set peak (VmHWM, reset via /proc/self/clear_refs before the measured steps) minus "
              "the resident size before loading, one fresh process per variant, glibc mmap threshold 64 KiB")
CUDA_METHOD = "torch.cuda.max_memory_allocated over the measured steps, one fresh process per variant"


class MemoryMeasureError(RuntimeError):
    """A memory child process failed; the message carries its stderr."""


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise MemoryMeasureError(f"/proc/self/status has no {field} (not Linux?)")


def resident_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def peak_resident_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def reset_peak_resident() -> None:
    """Set the kernel's peak resident size back to the current one (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure_all(specs: list[dict[str, Any]], workdir: Path, tick: Callable[[], None] | None = None
                ) -> dict[str, dict[str, Any]]:
    """Measure each variant in its own fresh process. On CPU the processes run side by side (a figure is
    one process's own memory, not a time), at most `os.cpu_count()` at once; on a GPU, which they would
    share, one after the other."""
    import torch

    env = {**os.environ, **MALLOC_ENV, "TOKENIZERS_PARALLELISM": "false"}
    parallel = 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)
    pending = list(specs)
    running: list[tuple[dict[str, Any], subprocess.Popen[str], Path]] = []
    results: dict[str, dict[str, Any]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            spec = pending.pop(0)
            spec_path = workdir / f"memory-{spec['name']}.json"
            result_path = workdir / f"memory-{spec['name']}.result.json"
            spec_path.write_text(json.dumps(spec))
            child = subprocess.Popen(
                [sys.executable, "-m", "audistill.bench.memory", str(spec_path), str(result_path)],
                env={**env, "OMP_NUM_THREADS": str(spec["threads"])}, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True)
            running.append((spec, child, result_path))
        spec, child, result_path = running.pop(0)
        _, stderr = child.communicate()
        if child.returncode != 0 or not result_path.is_file():
            for _, other, _ in running:
                other.kill()
            raise MemoryMeasureError(f"memory measurement of {spec['name']} failed (exit {child.returncode}):"
                                     f"\n{stderr[-4000:]}")
        results[spec["name"]] = json.loads(result_path.read_text())
        if tick is not None:
            tick()
    return {spec["name"]: results[spec["name"]] for spec in specs}


def _import_model_code(paths: list[str]) -> None:
    """Import what loading these checkpoints imports lazily (their model classes, peft, tokenizers: about
    150 MB of code and tables), so that the baseline holds it and the figure only the run's own data."""
    import importlib

    import accelerate  # noqa: F401
    import peft  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor  # noqa: F401

    from audistill.models.checkpoint import read_model_type, resolve_checkpoint

    for path in paths:
        family = read_model_type(resolve_checkpoint(path)).removesuffix("_thinker")
        # A remote-code or renamed family is not found here: its import then counts in every variant.
        with contextlib.suppress(ImportError):
            importlib.import_module(f"transformers.models.{family}.modeling_{family}")


def _materialise(module: Any) -> None:
    """Copy every weight into process memory. Safetensors checkpoints load as views of the mapped file,
    whose pages count as resident only once read: an acoustic copy's LM head, never read, would cost
    nothing. On a GPU every weight is resident; so it is here after this."""
    for tensor in [*module.parameters(), *module.buffers()]:
        tensor.data = tensor.data.clone()


def _child(spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from audistill.bench.variants import TrainerStep, use_frozen_copy
    from audistill.config import load_config
    from audistill.models.checkpoint import quiet_transformers

    cfg = load_config(None, spec["overrides"])
    _import_model_code([cfg.student.path, cfg.textual_teacher.path])
    baseline = resident_bytes()
    with quiet_transformers():
        step = TrainerStep.prepare(spec["name"], cfg)
        if spec.get("frozen_copy"):
            use_frozen_copy(step, cfg)
    cuda = step.run.accelerator.device.type == "cuda"
    if not cuda:
        _materialise(step.run.parts.student.model)
        acoustic = step.run.parts.acoustic
        if acoustic is not None and acoustic.teacher is not None:
            _materialise(acoustic.teacher.model)
    step.step()  # optimizer state allocated
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        reset_peak_resident()
    for _ in range(int(spec["steps"])):
        step.step()
    if cuda:
        torch.cuda.synchronize()
        peak, method = int(torch.cuda.max_memory_allocated()), CUDA_METHOD
    else:
        peak, method = peak_resident_bytes() - baseline, CPU_METHOD
    result_path.write_text(json.dumps({"name": spec["name"], "peak_bytes": peak, "baseline_bytes": baseline,
                                       "method": method}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m audistill.bench.memory SPEC.json RESULT.json")
    _child(Path(sys.argv[1]), Path(sys.argv[2]))
