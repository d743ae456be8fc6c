"""Learned student-to-teacher width maps for projected layer comparisons, kept apart from the student.

One nn.Linear(student width -> teacher width) per (student layer, teacher layer) pair. They train
with the student but are not part of it: saved beside the student as `projections.safetensors`
(weights) and `projections.json` (pairs and widths), so the student folder stays a plain Hugging
Face checkpoint. Each projection starts as the identity (a truncation or zero-padding when the
widths differ) with zero bias, so the first steps compare the raw states rather than random noise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save
from torch import Tensor, nn

from audistill.io import atomic_write_bytes, atomic_write_json

WEIGHTS_FILE = "projections.safetensors"
META_FILE = "projections.json"
FORMAT_VERSION = 1


def _key(student_layer: int, teacher_layer: int) -> str:
    return f"s{student_layer}_t{teacher_layer}"


class LayerProjections(nn.Module):
    """A linear map from student to teacher hidden width for every layer pair."""

    def __init__(self, pairs: Sequence[tuple[int, int]], student_width: int, teacher_width: int,
                 bias: bool = True) -> None:
        super().__init__()
        if student_width < 1 or teacher_width < 1:
            raise ValueError(f"widths must be >= 1, got {student_width} -> {teacher_width}")
        self.pairs = [(int(s), int(t)) for s, t in pairs]
        if len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"layer pairs repeat: {self.pairs}")
        self.student_width = student_width
        self.teacher_width = teacher_width
        self.bias = bias
        self.maps = nn.ModuleDict()
        for s, t in self.pairs:
            linear = nn.Linear(student_width, teacher_width, bias=bias)
            with torch.no_grad():
                nn.init.eye_(linear.weight)
                if linear.bias is not None:
                    linear.bias.zero_()
            self.maps[_key(s, t)] = linear

    def projection(self, student_layer: int, teacher_layer: int) -> nn.Linear:
        key = _key(student_layer, teacher_layer)
        if key not in self.maps:
            raise KeyError(f"no projection for student layer {student_layer} -> teacher layer "
                           f"{teacher_layer}; have {self.pairs}")
        linear: nn.Linear = self.maps[key]
        return linear

    def forward(self, hidden: Tensor, student_layer: int, teacher_layer: int) -> Tensor:
        """Student hidden states [N, student width] -> [N, teacher width]."""
        linear = self.projection(student_layer, teacher_layer)
        return linear(hidden.to(linear.weight.dtype))

    def param_groups(self, lr: float, lr_multiplier: float = 1.0,
                     weight_decay: float = 0.0) -> list[dict[str, Any]]:
        """Optimizer parameter groups: the projections train at lr * lr_multiplier
        (config: train.projection_lr_multiplier)."""
        return [{"params": list(self.parameters()), "lr": lr * lr_multiplier,
                 "weight_decay": weight_decay, "name": "layer_projections"}]

    def save(self, folder: str | Path) -> None:
        """Write projections.safetensors and projections.json into `folder`, atomically."""
        folder = Path(folder)
        tensors = {name: p.detach().to("cpu").contiguous() for name, p in self.state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
        atomic_write_json(folder / META_FILE, {
            "format": FORMAT_VERSION, "pairs": [list(p) for p in self.pairs],
            "student_width": self.student_width, "teacher_width": self.teacher_width,
            "bias": self.bias})

    @classmethod
    def load(cls, folder: str | Path, map_location: str | torch.device = "cpu") -> LayerProjections:
        """Read what `save` wrote; a missing or inconsistent file is named in the error."""
        folder = Path(folder)
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        for path in (meta_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: layer projections file not found")
        try:
            meta = json.loads(meta_path.read_text())
            pairs = [(int(s), int(t)) for s, t in meta["pairs"]]
            module = cls(pairs, int(meta["student_width"]), int(meta["teacher_width"]),
                         bias=bool(meta["bias"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{meta_path}: not a valid projections description ({exc})") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        try:
            tensors = load(weights_path.read_bytes())
        except Exception as exc:  # safetensors raises its own error types for torn files
            raise ValueError(f"{weights_path}: unreadable safetensors file ({exc})") from None
        expected = module.state_dict()
        if set(tensors) != set(expected):
            missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
            raise ValueError(f"{weights_path}: tensors do not match {meta_path.name} "
                             f"(missing {missing}, unexpected {extra})")
        for name, tensor in sorted(tensors.items()):
            if tensor.shape != expected[name].shape:
                raise ValueError(f"{weights_path}: {name} has shape {tuple(tensor.shape)}, expected "
                                 f"{tuple(expected[name].shape)}")
        module.load_state_dict(tensors)
        return module.to(map_location)
