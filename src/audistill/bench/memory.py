"""Peak memory of a training step, each variant in a fresh process.

Method. A variant runs in its own Python process, so nothing another variant allocated (or the
allocator kept) is counted. On CUDA the figure is `torch.cuda.max_memory_allocated()` over the
measured steps (every tensor the process holds: weights, optimizer state, activations). On CPU torch
has no allocator statistics, and tracemalloc does not see its buffers, so the figure is the resident
set: the kernel's peak (VmHWM in /proc/self/status) over the measured steps, reset just before them
through /proc/self/clear_refs, minus the resident size before any model was loaded (interpreter,
libraries and the model code that loading imports). glibc is told to map every block above 64 KiB
on its own (MALLOC_MMAP_THRESHOLD_), so freed buffers go back to the kernel at once and the resident
set follows live allocations. One untimed step runs first, so the optimizer state exists, as it does
in every later step.

Child protocol: `python -m audistill.bench.memory SPEC.json RESULT.json`, SPEC holding the variant
name, its config overrides, the thread count and the number of measured steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def measure(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run one variant's memory measurement in a fresh process; returns its result record."""
    name = spec["name"]
    spec_path, result_path = workdir / f"memory-{name}.json", workdir / f"memory-{name}.result.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, **MALLOC_ENV, "OMP_NUM_THREADS": str(spec["threads"]),
           "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "audistill.bench.memory", str(spec_path), str(result_path)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0 or not result_path.is_file():
        raise MemoryMeasureError(f"memory measurement of {name} failed (exit {done.returncode}):\n"
                                 f"{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def _import_model_code() -> None:
    """Import what loading a model imports lazily (model classes, peft, tokenizers: about 150 MB of
    code and tables), so that the baseline holds it and the figure holds only the run's own data."""
    import accelerate  # noqa: F401
    import peft  # noqa: F401
    import transformers.models.qwen2.modeling_qwen2
    import transformers.models.qwen2_5_omni.modeling_qwen2_5_omni
    import transformers.models.qwen2_audio.modeling_qwen2_audio
    import transformers.models.qwen3.modeling_qwen3  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer, WhisperFeatureExtractor  # noqa: F401


def _child(spec_path: Path, result_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from audistill.bench.variants import TrainerStep, use_frozen_copy
    from audistill.config import load_config
    from audistill.models.checkpoint import quiet_transformers

    _import_model_code()
    baseline = resident_bytes()
    cfg = load_config(None, spec["overrides"])
    with quiet_transformers():
        step = TrainerStep.prepare(spec["name"], cfg)
        if spec.get("frozen_copy"):
            use_frozen_copy(step, cfg)
    cuda = step.run.accelerator.device.type == "cuda"
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
