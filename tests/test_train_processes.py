"""Subprocess runs: a SIGKILLed run resumes to the same weights; two CPU processes (gloo) match one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from test_train_fixtures import PAPER, TinyWorld, run_overrides, tiny_world

pytestmark = pytest.mark.slow
STEPS = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> TinyWorld:
    return tiny_world(tmp_path_factory.mktemp("processes"))


def command(sets: list[str], *extra: str, launcher: list[str] | None = None) -> list[str]:
    args = [*(launcher or [sys.executable]), "-m", "audistill", "distill", str(PAPER), *extra]
    for s in sets:
        args += ["--set", s]
    return args


def environment() -> dict[str, str]:
    # One thread per process: the same arithmetic in every run, and no oversubscription of a small machine.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=environment(),
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_killed_run_resumes_to_the_same_weights(world, tmp_path):
    extra = {"train.save_every": 2, "train.keep_checkpoints": 2}
    reference = tmp_path / "reference"
    run(command(run_overrides(world, reference, steps=STEPS, **extra)))

    killed = tmp_path / "killed"
    sets = run_overrides(world, killed, steps=STEPS, **extra)
    process = subprocess.Popen(command(sets), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=environment())
    deadline = time.monotonic() + 240
    try:
        while not (killed / "checkpoints" / "step-2" / "trainer_state.json").exists():
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within the time limit"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "final").exists()

    resumed = run(command(sets, "--resume"))
    assert "resuming from" in resumed.stderr and "checkpoints/step-" in resumed.stderr
    want = load_file(str(reference / "final" / "model.safetensors"))
    got = load_file(str(killed / "final" / "model.safetensors"))
    assert set(want) == set(got)
    assert max((want[k] - got[k]).abs().max().item() for k in want) <= 1e-6
    assert losses(killed) == pytest.approx(losses(reference), abs=1e-9)
    assert len(losses(killed)) == STEPS
    assert len(list((killed / "checkpoints").iterdir())) == 2  # keep_checkpoints, no .tmp left over


def test_two_processes_with_the_same_global_batch_give_the_same_loss(world, tmp_path):
    one = tmp_path / "one"
    run(command(run_overrides(world, one, steps=3, **{"train.batch_size": 2})))
    two = tmp_path / "two"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = run(command(run_overrides(world, two, steps=3, **{"train.batch_size": 1}), launcher=torchrun))
    assert json.loads((two / "run.json").read_text())["processes"] == 2, done.stderr[-2000:]
    assert json.loads((one / "run.json").read_text())["global_batch"] == 2
    assert losses(two) == pytest.approx(losses(one), abs=1e-5)
    rows_one = [json.loads(line) for line in (one / "metrics.jsonl").read_text().splitlines()]
    rows_two = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in rows_one] == [r["tokens"] for r in rows_two]
    assert (two / "final" / "model.safetensors").is_file()
