"""Training checkpoints: written atomically, resumed exactly, never unpickled.

Layout of `checkpoints/step-<N>/` (N = optimizer steps done):

    student.safetensors       the student's trainable parameters by name (LoRA adapters under LoRA;
                              every unfrozen weight otherwise): frozen weights come from student.path
    projections.safetensors   textual layer projections (projected_* comparisons), with projections.json
    acoustic/projections.*    acoustic layer projections, when that comparison is projected
    optimizer.pt, scheduler.pt  their state_dicts (torch.save; read back with weights_only=True)
    rng-rank<R>.pt            RNG states of process R: torch (CPU and CUDA), numpy, python, as tensors
    trainer_state.json        step, epoch, step in epoch, processes, global batch, seed (written last)

A checkpoint is assembled in `checkpoints/.step-<N>.tmp/` and renamed into place once complete, so a
crash leaves either a whole checkpoint or a `.tmp` folder that the next run deletes. Only the newest
`train.keep_checkpoints` are kept.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save

from audistill.io import atomic_write_bytes, atomic_write_json

CHECKPOINTS = "checkpoints"
STUDENT_FILE = "student.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
STATE_FILE = "trainer_state.json"
ACOUSTIC_DIR = "acoustic"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from; the message names the file."""


def step_dir(root: Path, step: int) -> Path:
    return root / CHECKPOINTS / f"step-{step}"


def temp_dir(root: Path, step: int) -> Path:
    return root / CHECKPOINTS / f".step-{step}.tmp"


def remove_partial(root: Path) -> list[Path]:
    """Delete half-written `.step-*.tmp` folders of an interrupted run; return them."""
    folder = root / CHECKPOINTS
    gone = sorted(folder.glob(".step-*.tmp")) if folder.is_dir() else []
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone


def complete_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    folder = root / CHECKPOINTS
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_DIR.match(path.name)
            if match and (path / STATE_FILE).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    found = complete_checkpoints(root)
    return found[-1][1] if found else None


def prune(root: Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints."""
    for _, path in complete_checkpoints(root)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


# ---- pieces -------------------------------------------------------------------------------------------

def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def load_torch(path: Path) -> Any:
    """A torch.save file read with weights_only=True: tensors and plain containers only, no code."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    atomic_write_bytes(path, save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}))


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from the checkpoint")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({exc})") from None


def write_state(folder: Path, state: dict[str, Any]) -> None:
    atomic_write_json(folder / STATE_FILE, state)


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    return state


def publish(root: Path, step: int, keep: int) -> Path:
    """Rename the assembled `.step-N.tmp` into `step-N` (atomic) and prune old checkpoints."""
    final = step_dir(root, step)
    if final.exists():
        shutil.rmtree(final)
    temp_dir(root, step).rename(final)
    prune(root, keep)
    return final


# ---- RNG ----------------------------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    """Every RNG this process draws from, as tensors and plain lists (loadable with weights_only)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_file(folder: Path, rank: int) -> Path:
    return folder / f"rng-rank{rank}.pt"
