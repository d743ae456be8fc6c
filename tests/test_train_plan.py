"""Data order: seeded, sharded so that a step's examples do not depend on the number of processes."""

from __future__ import annotations

import pytest

from audistill.config import ConfigError
from audistill.train.plan import DataPlan


def test_every_step_covers_its_global_batch_once_whatever_the_split():
    one = DataPlan(20, batch_size=4, grad_accum=1, world_size=1, seed=3, max_steps=10)
    two = DataPlan(20, batch_size=1, grad_accum=2, world_size=2, seed=3, max_steps=10)
    four = DataPlan(20, batch_size=1, grad_accum=1, world_size=4, seed=3, max_steps=10)
    for step in range(10):
        want = one.step_examples(step)
        for plan in (one, two, four):
            assert plan.global_batch == 4
            split = [i for rank in range(plan.world_size) for mb in plan.micro_batches(step, rank)
                     for i in mb]
            assert sorted(split) == sorted(want)
            assert all(len(mb) == plan.batch_size for r in range(plan.world_size)
                       for mb in plan.micro_batches(step, r))


def test_epochs_are_seeded_permutations_without_repeats():
    plan = DataPlan(10, batch_size=2, grad_accum=1, world_size=1, seed=7, epochs=2)
    assert plan.steps_per_epoch == 5 and plan.total_steps == 10
    first = [i for s in range(5) for i in plan.step_examples(s)]
    second = [i for s in range(5, 10) for i in plan.step_examples(s)]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second  # a new order each epoch
    assert first == [i for s in range(5) for i in DataPlan(10, 2, 1, 1, seed=7).step_examples(s)]
    assert first != [i for s in range(5) for i in DataPlan(10, 2, 1, 1, seed=8).step_examples(s)]
    assert plan.position(7) == (1, 2)


def test_leftover_examples_and_step_counts():
    plan = DataPlan(7, batch_size=2, grad_accum=1, world_size=1, seed=0, epochs=1.5)
    assert plan.steps_per_epoch == 3 and plan.total_steps == 4  # floor(1.5 * 3); one example skipped
    assert len(set(i for s in range(3) for i in plan.step_examples(s))) == 6
    assert DataPlan(7, 2, 1, 1, seed=0, epochs=0.01).total_steps == 1
    assert DataPlan(7, 2, 1, 1, seed=0, max_steps=50, epochs=1).total_steps == 50


def test_too_little_data_and_bad_seed_are_config_errors():
    with pytest.raises(ConfigError, match=r"data\.train: 3 example\(s\) are fewer than one global batch"):
        DataPlan(3, batch_size=2, grad_accum=1, world_size=2, seed=0)
    with pytest.raises(ConfigError, match=r"train\.seed: must be >= 0"):
        DataPlan(8, batch_size=2, grad_accum=1, world_size=1, seed=-1)
