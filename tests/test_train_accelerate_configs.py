"""The example Accelerate configs in configs/accelerate/ parse with accelerate's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(("name", "kind"), [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"),
                                            ("deepspeed_zero3", "DEEPSPEED")])
def test_accelerate_example_configs_are_valid_for_accelerate(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / f"{name}.yaml"
    config = load_config_from_file(str(path))  # refuses unknown keys
    assert str(config.distributed_type).endswith(kind)
    assert config.mixed_precision == "bf16" and config.num_machines == 1
    if name == "deepspeed_zero3":
        assert config.deepspeed_config["zero_stage"] == 3
        assert config.deepspeed_config["gradient_accumulation_steps"] == 1  # see the file's notes
