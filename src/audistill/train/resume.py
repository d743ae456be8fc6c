"""Saving and restoring a run's training state (the checkpoint layout is in `checkpoint.py`).

Weights are restored before Accelerate wraps the model (every process loads the same files); the
optimizer, scheduler and RNG states after, into the wrapped objects. A checkpoint made with another
number of processes, global batch, seed or dataset size is refused: resuming it would silently change
the data order or the random streams.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from audistill.distill.objective import JointObjective
from audistill.io import atomic_write_bytes
from audistill.models.adaptor import AudioStudentAdaptor
from audistill.train import checkpoint as ckpt
from audistill.train.plan import DataPlan

STUDENT_PREFIX = "student_model."  # DistillModule's name for the student inside Accelerate's state dict


def check_compatible(state: dict[str, Any], plan: DataPlan, folder: Path) -> None:
    """Refuse a checkpoint whose data order or RNG streams differ from this run's."""
    wanted = {"processes": plan.world_size, "global_batch": plan.global_batch, "seed": plan.seed,
              "examples": plan.num_examples}
    for key, value in wanted.items():
        if state.get(key) != value:
            raise ckpt.CheckpointError(f"{folder / ckpt.STATE_FILE}: written with {key}={state.get(key)}, "
                                       f"but this run has {key}={value}; resuming would change the data "
                                       "order or the RNG streams")


def load_weights(student: AudioStudentAdaptor, objective: JointObjective, folder: Path) -> None:
    """The student's trainable parameters and the layer projections of checkpoint `folder`, in place."""
    saved = ckpt.read_tensors(folder / ckpt.STUDENT_FILE)
    params = {n: p for n, p in student.model.named_parameters() if p.requires_grad}
    if set(saved) != set(params):
        missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
        raise ckpt.CheckpointError(f"{folder / ckpt.STUDENT_FILE}: does not match the student's trainable "
                                   f"parameters (missing {missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name])
    for projections, sub in ((objective.text_projections, folder),
                             (objective.acoustic_projections, folder / ckpt.ACOUSTIC_DIR)):
        if projections is not None:
            loaded = type(projections).load(sub)
            projections.load_state_dict(loaded.state_dict())


def save_checkpoint(accelerator: Accelerator, model: Any, student: AudioStudentAdaptor,
                    objective: JointObjective, optimizer: Any, scheduler: Any, plan: DataPlan, out: Path,
                    step: int, keep: int) -> None:
    """Every process writes its RNG state into the temp folder; the main one writes the rest and
    publishes the folder once everything is in it."""
    main = accelerator.is_main_process
    full = accelerator.get_state_dict(model)  # a collective under FSDP / ZeRO-3
    temp = ckpt.temp_dir(out, step)
    if main:
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    atomic_write_bytes(ckpt.rng_file(temp, accelerator.process_index), ckpt.torch_bytes(ckpt.rng_state()))
    accelerator.wait_for_everyone()
    if main:
        trainable = {n for n, p in student.model.named_parameters() if p.requires_grad}
        weights = {k[len(STUDENT_PREFIX):]: v for k, v in full.items() if k.startswith(STUDENT_PREFIX)}
        ckpt.write_tensors(temp / ckpt.STUDENT_FILE, {k: v for k, v in weights.items() if k in trainable})
        if objective.text_projections is not None:
            objective.text_projections.save(temp)
        if objective.acoustic_projections is not None:
            objective.acoustic_projections.save(temp / ckpt.ACOUSTIC_DIR)
        atomic_write_bytes(temp / ckpt.OPTIMIZER_FILE, ckpt.torch_bytes(optimizer.state_dict()))
        atomic_write_bytes(temp / ckpt.SCHEDULER_FILE, ckpt.torch_bytes(scheduler.state_dict()))
        epoch, within = plan.position(step)
        ckpt.write_state(temp, {"step": step, "epoch": epoch, "step_in_epoch": within,
                                "processes": accelerator.num_processes, "global_batch": plan.global_batch,
                                "seed": plan.seed, "examples": plan.num_examples})
        ckpt.publish(out, step, keep)
    accelerator.wait_for_everyone()
