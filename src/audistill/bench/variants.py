"""The measured steps. Each is a real run's configuration driven through the trainer's own step.

Every variant is the paper's objective (the RunConfig defaults: L = L_txt + 0.05 L_ac + 0.5 L_sft,
layer-wise logit-lens text KD over the teacher's top-32 tokens, acoustic MSE on all layers) with a few
overrides, prepared by `audistill.train.loop.prepare_run` and stepped by `optimizer_step`: data loading,
views, collation, teacher signals, student forward, objective, backward, clipping and AdamW are the ones
`audistill distill` runs. Each step sees the same fixed micro-batch (the data plan's first), so every
variant works on identical tokens.

Timed (full fine-tuning, as the paper): sft, full_online (both teachers online), full_online_exact_lens
(the same with the logit lens over the whole vocabulary), full_online_projected (projected-MSE layer
terms instead of the logit lens), full_cached (textual teacher
read from the top-k cache, hence top layer only; acoustic teacher online). Memory (LoRA, the setting
where the acoustic teacher's form matters): lora_sft, acoustic_adapter (the adapter-disabled base)
and acoustic_copy (a separately loaded frozen base beside the LoRA student; the config refuses this
form under LoRA because the adapter form makes it needless, so the bench builds it itself), both with
the textual teacher cached so that no second model but the acoustic copy is held.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch

from audistill.bench.settings import BenchSettings
from audistill.bench.world import BenchWorld
from audistill.config import RunConfig, load_config
from audistill.distill.sources import AcousticTeacherSource
from audistill.models.adaptor import AudioStudentAdaptor, freeze
from audistill.models.batch import StudentBatch
from audistill.models.load import load_adaptor
from audistill.train.loop import Run, optimizer_step, prepare_run
from audistill.views import PairBatch

TIMED = ("sft", "full_online", "full_online_exact_lens", "full_online_projected", "full_cached")
MEMORY = ("lora_sft", "acoustic_adapter", "acoustic_copy")

_SFT = ("textual_teacher.enabled=false", "acoustic_teacher.enabled=false")
_CACHED = ("textual_teacher.source=cache", "textual_teacher.layers.strategy=none")
_LORA = ("student.lora.enabled=true",)
OVERRIDES: dict[str, tuple[str, ...]] = {
    "sft": _SFT,
    "full_online": (),
    "full_online_exact_lens": ("textual_teacher.layers.compare=logit_lens",),
    "full_online_projected": ("textual_teacher.layers.compare=projected_mse",),
    "full_cached": _CACHED,
    "lora_sft": _LORA + _SFT,
    "acoustic_adapter": _LORA + _CACHED,
    "acoustic_copy": _LORA + _CACHED,
}


def base_overrides(world: BenchWorld, settings: BenchSettings, workdir: Path) -> list[str]:
    """What every variant shares: models, data, batch, one micro-batch per step, a tiny learning rate."""
    return [
        f"student.path={world.student}", f"textual_teacher.path={world.teacher}",
        f"student.device={settings.device}", f"student.dtype={settings.student_dtype}",
        f"data.train={world.data}",
        f"train.batch_size={settings.shape.batch_size}", "train.grad_accum=1", "train.max_steps=100000",
        "train.lr=1e-6", "train.warmup_ratio=0", "train.save_every=100000",
        f"textual_teacher.cache_dir={cache_folder(workdir, 32)}", "textual_teacher.cache_k=32",
    ]


def cache_folder(workdir: Path, k: int) -> Path:
    return workdir / "cache" / f"k{k}"


def variant_overrides(name: str, world: BenchWorld, settings: BenchSettings, workdir: Path) -> list[str]:
    """The `--set` overrides of one variant (on the RunConfig defaults, the paper's objective)."""
    return [*base_overrides(world, settings, workdir), *OVERRIDES[name],
            f"train.output_dir={workdir / 'runs' / name}"]


def variant_config(name: str, world: BenchWorld, settings: BenchSettings, workdir: Path) -> RunConfig:
    return load_config(None, variant_overrides(name, world, settings, workdir))


@dataclass
class TrainerStep:
    """One variant: a prepared run and the micro-batch each of its steps trains on."""

    name: str
    run: Run
    batch: PairBatch
    metric_names: list[str]

    @classmethod
    def prepare(cls, name: str, cfg: RunConfig) -> TrainerStep:
        run = prepare_run(cfg)
        batch = run.views.collate(run.plan.micro_batches(0, 0)[0])
        return cls(name, run, batch, run.module.objective.metric_names())

    def step(self) -> None:
        """One optimizer step of the trainer on the fixed micro-batch (step 0's examples, whose token
        counts the loss is normalised by)."""
        optimizer_step(self.run, 0, itertools.repeat(self.batch), self.metric_names)

    def phase_seconds(self, steps: int) -> dict[str, float]:
        """Median seconds per phase of the step over `steps` more steps, with the trainer's phase clock
        on; `other` is what no phase covers (moving the batch, reading the metrics), `step` the median
        whole step of these steps (run back to back, so not the interleaved rounds' figure)."""
        clock = self.run.module.clock
        device = self.run.accelerator.device
        totals = []
        clock.start(device)
        try:
            for _ in range(steps):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                started = time.perf_counter()
                self.step()
                totals.append(time.perf_counter() - started)  # the optimizer phase ends synchronised
        finally:
            clock.stop()
        result = clock.medians()
        covered = [sum(s.values()) for s in clock.steps]
        result["other"] = max(0.0, statistics.median(t - c for t, c in zip(totals, covered, strict=True)))
        result["step"] = statistics.median(totals)
        return result

    @property
    def device_batch(self) -> PairBatch:
        device = self.run.accelerator.device
        teacher = self.batch.teacher.to(device) if self.batch.teacher is not None else None
        return PairBatch(cast(StudentBatch, self.batch.student.to(device)), teacher)


class FrozenCopySource(AcousticTeacherSource):
    """The copy form beside a LoRA student: a frozen, separately loaded base model."""

    def __init__(self, frozen: AudioStudentAdaptor) -> None:  # no super().__init__: it refuses LoRA + copy
        self.form = "copy"
        self.student = frozen
        self.teacher = frozen
        self.shared_encoder = None  # memory only: the copy runs its own encoder


def use_frozen_copy(step: TrainerStep, cfg: RunConfig) -> None:
    """Replace the adapter-form acoustic teacher of a LoRA run by a frozen copy of the base weights."""
    device = step.run.accelerator.device
    base = load_adaptor(cfg.student.path, dtype=cfg.student.dtype, device=str(device), field="student.path")
    if not isinstance(base, AudioStudentAdaptor):
        raise TypeError(f"{cfg.student.path}: not an audio student")
    freeze(base.model)
    source = FrozenCopySource(base)
    step.run.parts.acoustic = source
    step.run.module._acoustic = source


@dataclass
class AcousticForward:
    """The acoustic teacher's forward alone: truncated at the batch's last audio token (what training
    runs) or over the whole sequence (what it would cost without the cut)."""

    name: str
    source: AcousticTeacherSource
    batch: PairBatch
    truncated: bool

    def step(self) -> None:
        if self.source.shared_encoder is not None:
            self.source.shared_encoder.clear()  # every timed forward runs the encoder
        if self.truncated:
            self.source.signals(self.batch)
            return
        assert self.source.teacher is not None
        with torch.no_grad():
            self.source.teacher.forward(self.batch.student, want_logits=False, want_hidden=False,
                                        want_audio_hidden=True)


def acoustic_forwards(cached: TrainerStep) -> list[AcousticForward]:
    """The truncated and the full forward of a full-fine-tuning run's acoustic teacher (a frozen copy)."""
    source = cached.run.parts.acoustic
    if source is None or source.teacher is None:
        raise ValueError(f"{cached.name}: has no frozen-copy acoustic teacher")
    batch = cached.device_batch
    return [AcousticForward("acoustic_truncated", source, batch, True),
            AcousticForward("acoustic_full", source, batch, False)]


def count_forward_calls(module: torch.nn.Module, step: Callable[[], Any]) -> list[int]:
    """Sequence lengths of every forward call of `module` during `step()` (tests: what a variant runs)."""
    lengths: list[int] = []

    def hook(_module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        lengths.append(int(ids.shape[1]) if isinstance(ids, torch.Tensor) else -1)

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        step()
    finally:
        handle.remove()
    return lengths
