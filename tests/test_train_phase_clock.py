"""The trainer's phase clock: off by default, one entry per step, medians over steps."""

from __future__ import annotations

import time

import pytest
import torch

from audistill.train.phase_clock import PhaseClock


def test_a_stopped_clock_records_nothing() -> None:
    clock = PhaseClock()
    clock.new_step()
    with clock.phase("backward"):
        pass
    assert clock.steps == [] and clock.medians() == {}


def test_phases_add_up_within_a_step_and_medians_count_a_missing_phase_as_zero() -> None:
    clock = PhaseClock()
    clock.start(torch.device("cpu"))
    for step in range(3):
        clock.new_step()
        for _ in range(2):  # a phase entered twice in one step (two micro-batches) adds up
            with clock.phase("backward"):
                time.sleep(0.002)
        if step == 0:
            with clock.phase("textual teacher"):
                time.sleep(0.001)
    clock.stop()
    assert len(clock.steps) == 3
    assert all(s["backward"] >= 0.004 for s in clock.steps)
    medians = clock.medians()
    assert list(medians) == ["textual teacher", "backward"]  # the trainer's order, not arrival order
    assert medians["textual teacher"] == 0.0  # present in one step of three
    assert medians["backward"] == pytest.approx(sorted(s["backward"] for s in clock.steps)[1])


def test_a_phase_that_raises_is_still_charged() -> None:
    clock = PhaseClock()
    clock.start(torch.device("cpu"))
    clock.new_step()
    with pytest.raises(ValueError), clock.phase("objective"):
        raise ValueError("bad term")
    assert "objective" in clock.steps[0]
