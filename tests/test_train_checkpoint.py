"""Checkpoint pieces: RNG states survive weights_only loading, atomic publication, pruning, metrics cut."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from audistill.io import atomic_write_bytes
from audistill.train import checkpoint as ckpt
from audistill.train.run_log import truncate_metrics


def test_rng_states_round_trip_through_weights_only_files(tmp_path: Path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.random(), np.random.normal(), torch.rand(1)  # advance each stream
    atomic_write_bytes(tmp_path / "rng.pt", ckpt.torch_bytes(ckpt.rng_state()))
    want = (random.random(), float(np.random.normal()), float(torch.rand(1)))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    ckpt.set_rng_state(ckpt.load_torch(tmp_path / "rng.pt"))
    assert (random.random(), float(np.random.normal()), float(torch.rand(1))) == want


class Payload:
    """Any class: unpickling it would run code from the file's say-so."""


def test_load_torch_refuses_pickled_code(tmp_path: Path):
    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ckpt.CheckpointError, match=r"evil\.pt: unreadable"):
        ckpt.load_torch(tmp_path / "evil.pt")
    with pytest.raises(ckpt.CheckpointError, match="missing from the checkpoint"):
        ckpt.load_torch(tmp_path / "absent.pt")


def _fake(root: Path, step: int, complete: bool = True) -> None:
    folder = ckpt.temp_dir(root, step)
    folder.mkdir(parents=True)
    if complete:
        ckpt.write_state(folder, {"step": step})
        ckpt.publish(root, step, keep=2)


def test_only_complete_checkpoints_count_and_old_ones_are_pruned(tmp_path: Path):
    for step in (2, 4, 6):
        _fake(tmp_path, step)
    _fake(tmp_path, 8, complete=False)  # killed while writing step 8
    assert [s for s, _ in ckpt.complete_checkpoints(tmp_path)] == [4, 6]
    assert ckpt.latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step-6"
    assert ckpt.remove_partial(tmp_path) == [tmp_path / "checkpoints" / ".step-8.tmp"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-4", "step-6"]
    assert ckpt.latest_checkpoint(tmp_path / "nothing") is None


def test_metrics_are_cut_back_to_the_resumed_step(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3, 4)]
    path.write_text("\n".join(lines) + '\n{"step": 5, "lo')  # torn last line
    truncate_metrics(path, 2)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]

