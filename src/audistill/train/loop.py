"""The distillation loop on Hugging Face Accelerate: `run_distillation(cfg, resume=False) -> output folder`.

One optimizer step = `train.grad_accum` micro-batches on each of the processes (see `plan.py` for which
examples). Every term's sum over its positions is divided by the total count of the whole window: target
tokens (audio positions for the acoustic term) over all micro-batches and all processes. The counts come
from the data plan, which every process knows, so no communication is needed for them. DDP averages
gradients over processes, so each process's loss is multiplied by the number of processes: the gradient
is then exactly that of the global token-normalised loss. Teacher signals are computed once per
micro-batch under no_grad; the textual teacher outside the wrapped module, the acoustic one inside it.

Optimizer: AdamW (torch's fused kernel on CPU and CUDA unless train.fused_adamw is off: measured on the
bench's 5.1 M-parameter student, one CPU thread, 40 -> 9 ms a step), the student's trainable parameters
at train.lr and the layer projections at train.lr x train.projection_lr_multiplier, linear warmup over
ceil(warmup_ratio x steps) steps then cosine decay to 0 (transformers.get_cosine_schedule_with_warmup);
gradients clipped at train.max_grad_norm. A non-finite term (or gradient norm) stops the run before the
optimizer step, naming the step, the term and the batch's example ids; the last checkpoint stays the
newest.

Output folder: config.yaml (resolved), versions.json, run.json (seed, processes, global batch, steps),
metrics.jsonl and tensorboard/ (`run_log.py`), checkpoints/step-<N>/ (`checkpoint.py`), final/
(`export.py`). Several runs may follow each other in one process (the demo's ladder): models are freed
and Accelerate's global state is reset when a run ends.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DistributedType, set_seed

from audistill.config import ConfigError, RunConfig, dump_config
from audistill.data.validate import load_configured
from audistill.distill.sources import CachedTextualSource
from audistill.io import atomic_write_json, atomic_write_text
from audistill.models.batch import StudentBatch
from audistill.run_record import write_versions
from audistill.train import checkpoint as ckpt
from audistill.train.data import TrainingViews, micro_batch_loader
from audistill.train.export import save_final
from audistill.train.plan import DataPlan
from audistill.train.resume import check_compatible, load_weights, save_checkpoint
from audistill.train.run_log import METRICS_FILE, RunLog
from audistill.train.setup import Components, DistillModule, build_components
from audistill.views import PairBatch

PROJECTION_GROUP = "layer_projections"


class NonFiniteLossError(RuntimeError):
    """A NaN or inf loss term (or gradient norm): the message names the step, the term and the examples."""


@dataclass
class Run:
    """The live objects of one run."""

    cfg: RunConfig
    out: Path
    accelerator: Accelerator
    parts: Components
    views: TrainingViews
    plan: DataPlan
    model: Any  # the DistillModule as Accelerate wrapped it
    module: DistillModule
    optimizer: Any
    scheduler: Any
    start_step: int

    @property
    def rank(self) -> int:
        return int(self.accelerator.process_index)

    @property
    def world(self) -> int:
        return int(self.accelerator.num_processes)


def run_distillation(cfg: RunConfig, resume: bool = False, *, show_progress: bool = True) -> Path:
    """Train the student of `cfg` and return its output folder (train.output_dir) with final/ inside.

    resume: continue from the newest complete checkpoint of train.output_dir (a fresh start when there is
    none). Without it, an output folder that already holds a run is refused.
    """
    accelerator = _accelerator(cfg)
    run: Run | None = None
    log: RunLog | None = None
    try:
        run = _prepare(cfg, accelerator, resume, show_progress)
        log = RunLog(run.out, main=accelerator.is_main_process, start_step=run.start_step,
                     total_steps=run.plan.total_steps, resumed=run.start_step > 0,
                     show_progress=show_progress)
        _train(run, log)
        log.close()
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_final(run.parts.student, run.module.objective, run.out)
        accelerator.wait_for_everyone()
        return run.out
    finally:
        if log is not None:
            log.close()
        del run
        _release(accelerator)


# ---- set-up -------------------------------------------------------------------------------------------

def prepare_run(cfg: RunConfig, *, show_progress: bool = False) -> Run:
    """A fresh run's live objects (models, views, data plan, optimizer) without training it: for callers
    that drive `optimizer_step` themselves (`audistill bench`). Release it with `release_run`."""
    return _prepare(cfg, _accelerator(cfg), False, show_progress)


def release_run(run: Run) -> None:
    """Free what Accelerate holds of a run made by `prepare_run` and reset its global state; the caller
    drops its own reference to `run`."""
    _release(run.accelerator)


def _mixed_precision(cfg: RunConfig, cpu: bool) -> str:
    """train.mixed_precision; `auto` = what `accelerate launch` was told (its config file), else bf16 on a
    GPU that supports it, else none."""
    wanted = cfg.train.mixed_precision
    if wanted != "auto":
        return wanted
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "").lower()
    if launcher in ("no", "bf16", "fp16"):
        return launcher
    supported = not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bf16" if supported else "no"


def _accelerator(cfg: RunConfig) -> Accelerator:
    cpu = cfg.student.device == "cpu" or not torch.cuda.is_available()
    # Accumulation is done here (normalised by the window's tokens), so Accelerate's own is left at 1:
    # it would divide every loss by grad_accum once more.
    accelerator = Accelerator(cpu=cpu, mixed_precision=_mixed_precision(cfg, cpu))
    if accelerator.distributed_type == DistributedType.DEEPSPEED and cfg.train.grad_accum > 1:
        raise ConfigError("train.grad_accum: under DeepSpeed the engine steps on every backward; use "
                          "train.grad_accum: 1 and a larger train.batch_size")
    return accelerator


def _release(accelerator: Accelerator) -> None:
    single = accelerator.num_processes == 1
    accelerator.free_memory()
    AcceleratorState._reset_state(reset_partial_state=single)
    GradientState._reset_state()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _check_output(out: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from; refuse to mix a fresh run into an old run's folder."""
    latest = ckpt.latest_checkpoint(out)
    if not resume and (latest is not None or (out / METRICS_FILE).exists()):
        raise ConfigError(f"train.output_dir: {out} already holds a run (checkpoints or {METRICS_FILE}); "
                          "pass --resume to continue it or choose another output_dir")
    return latest if resume else None


def _prepare(cfg: RunConfig, accelerator: Accelerator, resume: bool, show_progress: bool) -> Run:
    out = Path(cfg.train.output_dir)
    main = accelerator.is_main_process
    resume_from = _check_output(out, resume)
    if main and resume:
        from rich.console import Console

        Console(stderr=True).print(f"resuming from {resume_from}" if resume_from is not None else
                                   f"--resume: no checkpoint in {out / ckpt.CHECKPOINTS}; starting at step 0",
                                   highlight=False, soft_wrap=True)
    accelerator.wait_for_everyone()
    if main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.remove_partial(out)
    set_seed(cfg.train.seed)
    examples = load_configured(cfg.data, "train", show_progress=main and show_progress)
    parts = build_components(cfg, accelerator.device)
    views = _build_views(examples, parts, cfg, main and show_progress)
    if isinstance(parts.textual, CachedTextualSource):
        parts.textual.check_covers([e.id for e in views.examples])
    t = cfg.train
    plan = DataPlan(len(views), t.batch_size, t.grad_accum, accelerator.num_processes, t.seed, t.max_steps,
                    t.epochs)
    module = DistillModule(parts.student, parts.objective, parts.acoustic)
    state: dict[str, Any] | None = None
    if resume_from is not None:
        state = ckpt.read_state(resume_from)
        check_compatible(state, plan, resume_from)
        load_weights(parts.student, module.objective, resume_from)
    model = accelerator.prepare(module)
    optimizer = accelerator.prepare(_optimizer(model, cfg))
    from transformers import get_cosine_schedule_with_warmup

    warmup = math.ceil(t.warmup_ratio * plan.total_steps)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, plan.total_steps)
    start = 0
    if resume_from is not None and state is not None:
        optimizer.load_state_dict(ckpt.load_torch(resume_from / ckpt.OPTIMIZER_FILE))
        scheduler.load_state_dict(ckpt.load_torch(resume_from / ckpt.SCHEDULER_FILE))
        ckpt.set_rng_state(ckpt.load_torch(ckpt.rng_file(resume_from, accelerator.process_index)))
        start = int(state["step"])
    else:
        set_seed(t.seed + accelerator.process_index)  # independent dropout per process
    if main:
        _write_records(cfg, out, plan, accelerator)
        _warn_low_precision_weights(parts)
    return Run(cfg, out, accelerator, parts, views, plan, model, module, optimizer, scheduler, start)


def _build_views(examples: list[Any], parts: Components, cfg: RunConfig, progress: bool) -> TrainingViews:
    if not progress:
        return TrainingViews(examples, parts.builder, num_workers=cfg.train.num_workers)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("building views", total=len(examples))
        return TrainingViews(examples, parts.builder, num_workers=cfg.train.num_workers,
                             tick=lambda: bar.advance(task))


def _optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.AdamW:
    t = cfg.train
    student, projections = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (projections if "objective." in name else student).append(param)
    if not student and not projections:
        raise ConfigError("student: nothing to train (every parameter is frozen)")
    groups = [{"params": student, "lr": t.lr, "name": "student"}]
    if projections:
        groups.append({"params": projections, "lr": t.lr * t.projection_lr_multiplier,
                       "name": PROJECTION_GROUP})
    return build_adamw(groups, lr=t.lr, weight_decay=t.weight_decay, fused=t.fused_adamw)


# Devices torch's fused AdamW kernel is built for in every wheel (MPS and XPU ones vary by version).
_FUSED_DEVICES = ("cpu", "cuda")


def build_adamw(groups: list[dict[str, Any]], *, lr: float, weight_decay: float, fused: bool
                ) -> torch.optim.AdamW:
    """AdamW over parameter groups, with torch's fused kernel when `fused` and every parameter fits it
    (floating point, on CPU or CUDA); else torch's default implementation."""
    params = [p for group in groups for p in group["params"]]
    fits = all(p.device.type in _FUSED_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=True if fused and fits else None)


def _warn_low_precision_weights(parts: Components) -> None:
    """bf16/fp16 weights trained in place lose AdamW updates below their resolution (2^-8 relative for
    bf16: at lr 1e-5 most of them); LoRA adapters are kept in fp32 by peft, full weights are not."""
    low = {p.dtype for _, p in parts.student.trainable_parameters()} & {torch.bfloat16, torch.float16}
    if low:
        from rich.console import Console

        Console(stderr=True).print(
            f"warning: the student's trainable weights are {', '.join(sorted(str(d) for d in low))}; "
            "updates smaller than their precision are lost. Prefer student.dtype: float32 with "
            "train.mixed_precision: bf16 (autocast), LoRA, or FSDP/DeepSpeed mixed precision.",
            highlight=False, soft_wrap=True)


def _write_records(cfg: RunConfig, out: Path, plan: DataPlan, accelerator: Accelerator) -> None:
    """config.yaml as given, versions.json, and run.json with what `auto` settings resolved to here."""
    atomic_write_text(out / "config.yaml", dump_config(cfg))
    write_versions(out)
    atomic_write_json(out / "run.json", {
        "seed": cfg.train.seed, "processes": accelerator.num_processes, "global_batch": plan.global_batch,
        "examples": plan.num_examples, "steps_per_epoch": plan.steps_per_epoch,
        "total_steps": plan.total_steps, "config_hash": cfg.hash(), "device": str(accelerator.device),
        "mixed_precision": accelerator.mixed_precision})


# ---- the loop -----------------------------------------------------------------------------------------

def _train(run: Run, log: RunLog) -> None:
    plan, cfg = run.plan, run.cfg
    schedule = [mb for step in range(run.start_step, plan.total_steps)
                for mb in plan.micro_batches(step, run.rank)]
    batches = iter(micro_batch_loader(run.views, schedule, cfg.train.num_workers))
    names = run.module.objective.metric_names()
    clock = run.module.clock
    if cfg.train.phase_times:
        clock.start(run.accelerator.device)
    run.model.train()
    for step in range(run.start_step, plan.total_steps):
        started = time.perf_counter()
        lr = run.scheduler.get_last_lr()[0]
        sums, grad_norm = optimizer_step(run, step, batches, names)
        done = step + 1
        totals = _all_reduce(run, sums)
        tokens = run.views.target_tokens(plan.step_examples(step))
        audio = run.views.audio_positions(plan.step_examples(step))
        values: dict[str, Any] = {"step": done, "epoch": done / plan.steps_per_epoch}
        values.update(run.module.objective.metrics(dict(zip(names, totals, strict=True)), tokens, audio))
        values.update({"lr": lr, "tokens": tokens, "audio_positions": audio,
                       "grad_norm": None if grad_norm is None else float(grad_norm),
                       "seconds": time.perf_counter() - started})
        if clock.enabled:
            values.update({f"seconds/{phase.replace(' ', '_')}": seconds
                           for phase, seconds in clock.steps[-1].items()})
            clock.steps.clear()  # only this step's phases are reported; nothing accumulates
        log.step(values, write=done % cfg.train.log_every == 0 or done == plan.total_steps)
        if done % cfg.train.save_every == 0:
            save_checkpoint(run.accelerator, run.model, run.parts.student, run.module.objective,
                            run.optimizer, run.scheduler, plan, run.out, done, cfg.train.keep_checkpoints)


def optimizer_step(run: Run, step: int, batches: Any, names: list[str]) -> tuple[list[float], Any]:
    """One optimizer step: the window's micro-batches (drawn from `batches`) forward and backward, gradient
    clipping, the optimizer and scheduler steps. Returns the window's local metric sums (in `names` order)
    and the gradient norm. `audistill bench` times exactly this."""
    clock = run.module.clock
    clock.new_step()
    sums = _accumulate(run, step, batches, names)
    with clock.phase("optimizer"):
        grad_norm = run.accelerator.clip_grad_norm_(run.model.parameters(), run.cfg.train.max_grad_norm)
        # fp16's loss scaler expects the odd overflow and skips that step itself.
        scaled = run.accelerator.mixed_precision == "fp16"
        if grad_norm is not None and not math.isfinite(float(grad_norm)) and not scaled:
            _stop(run, step, "gradient norm", float(grad_norm), run.plan.step_examples(step))
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
    return sums, grad_norm


def _accumulate(run: Run, step: int, batches: Any, names: list[str]) -> list[float]:
    """Forward and backward of one optimizer step's micro-batches; the window's local metric sums."""
    plan, accelerator = run.plan, run.accelerator
    chosen = plan.step_examples(step)
    tokens, audio = run.views.target_tokens(chosen), run.views.audio_positions(chosen)
    totals = [0.0] * len(names)
    for micro in range(plan.grad_accum):
        batch = _to_device(next(batches), accelerator.device)
        textual = None
        if run.parts.textual is not None:
            with accelerator.autocast(), run.module.clock.phase("textual teacher"):
                textual = run.parts.textual.signals(batch)
        last = micro == plan.grad_accum - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(run.model):
            sums = run.model(batch, textual)
            parts = [sums.terms[n] if n in sums.terms else sums.layers[n] for n in names]
            values = torch.stack(parts).detach().float().tolist()  # one device sync per micro-batch
            for name, value in zip(names, values, strict=True):
                if not math.isfinite(value):
                    _stop(run, step, name, value, batch.example_ids)
            loss = run.module.objective.loss(sums.terms, tokens, audio) * run.world
            with run.module.clock.phase("backward"):
                accelerator.backward(loss)
        totals = [a + b for a, b in zip(totals, values, strict=True)]
    return totals


def _to_device(batch: PairBatch, device: torch.device) -> PairBatch:
    teacher = batch.teacher.to(device) if batch.teacher is not None else None
    student = batch.student.to(device)
    assert isinstance(student, StudentBatch)
    return PairBatch(student, teacher)


def _all_reduce(run: Run, values: list[float]) -> list[float]:
    """Sum over processes (the per-term sums of the window, for the metrics)."""
    if run.world == 1 or not values:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=run.accelerator.device)
    torch.distributed.all_reduce(tensor)
    return [float(v) for v in tensor.tolist()]


def _stop(run: Run, step: int, term: str, value: float, example_ids: list[str] | list[int]) -> None:
    ids = [run.views.examples[i].id if isinstance(i, int) else i for i in example_ids]
    latest = ckpt.latest_checkpoint(run.out)
    kept = f"the last good checkpoint is {latest}" if latest is not None else "no checkpoint was written yet"
    raise NonFiniteLossError(
        f"step {step + 1}: the {term} term is {value} (not finite) on examples {', '.join(ids)} "
        f"(process {run.rank}); stopped before the optimizer step; {kept}")
