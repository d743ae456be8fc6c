"""One forward of the frozen audio encoder per micro-batch, shared by the acoustic teacher and the student.

The acoustic teacher is the student before training. While the student's audio encoder is frozen (the
default, `student.freeze_audio_encoder`) and computes deterministically, both models' encoders are the
same function of the same mel features, so the student's pass can take the acoustic teacher's output
instead of running the encoder a second time. What that saves: Qwen2-Audio's Whisper encoder reads its
whole 30 s window for any clip, about 1.9 TFLOP (5 % of a 7B student's SFT step on a 10 s clip);
Qwen2.5-Omni's reads the clip's frames only (about 2 %).

How: each encoder module's `forward` is wrapped (an instance attribute; the class, the state dict and
hooks are untouched). Inside `producing()` (the acoustic teacher's pass) a call runs the encoder and
stores its output. Outside it, a call whose arguments equal the stored call's (tensors element by element,
other values by ==), under the same autocast state and with every weight unchanged since (parameter
version counters), returns the stored output once and clears it; any other call runs the encoder. So
the teacher's pass always computes, and the student's pass right after it reuses.

Installed only where that is exact (`share_frozen_encoder` returns None otherwise): no encoder weight
requires grad, the encoder has no stochastic layer (every dropout and layer-drop probability is 0, so
train and eval mode compute the same), and the teacher's encoder is the student's module (adapter form)
or holds equal weights (a fresh copy).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from audistill.models.adaptor import AudioStudentAdaptor


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and a.device == b.device and bool(torch.equal(a, b)))
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _autocast_state(args: tuple[Any, ...]) -> tuple[Any, ...]:
    device = next((a.device.type for a in args if isinstance(a, Tensor)), "cpu")
    enabled = torch.is_autocast_enabled(device)
    return (device, enabled, torch.get_autocast_dtype(device) if enabled else None)


def is_deterministic(encoder: nn.Module) -> bool:
    """True when train and eval mode compute the same: no dropout module and no configured dropout or
    layer-drop probability above 0."""
    for module in encoder.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0:
            return False
        config = getattr(module, "config", None)
        for name, value in (vars(config).items() if config is not None else ()):
            if ("dropout" in name or "layerdrop" in name) and isinstance(value, int | float) and value > 0:
                return False
    return True


class SharedEncoderPass:
    """The wrapped encoders and the one stored call (module notes)."""

    def __init__(self, encoders: list[nn.Module]) -> None:
        self.encoders = encoders
        self._producing = False
        self._stored: tuple[tuple[Any, ...], dict[str, Any], tuple[Any, ...], Any] | None = None
        self.reused = 0  # calls answered from the stored output (tests, diagnostics)
        # An instance-level forward (accelerate's device hooks) is wrapped and put back as it was.
        self._own = [vars(encoder).get("forward") for encoder in encoders]
        for encoder in encoders:
            encoder.forward = types.MethodType(self._wrap(encoder.forward), encoder)  # type: ignore[method-assign]

    def _versions(self) -> tuple[int, ...]:
        return tuple(p._version for encoder in self.encoders for p in encoder.parameters())

    def _frozen(self) -> bool:
        return not any(p.requires_grad for encoder in self.encoders for p in encoder.parameters())

    def _wrap(self, original: Any) -> Any:
        def forward(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
            if not any(module is e for e in self.encoders):  # a deep copy of a wrapped module: its own
                return type(module).forward(module, *args, **kwargs)
            grad_inputs = torch.is_grad_enabled() and any(
                isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values()))
            state = (_autocast_state(args), self._versions())
            if self._producing:
                output = original(*args, **kwargs)
                self._stored = (args, kwargs, state, output)
                return output
            stored, self._stored = self._stored, None
            if (stored is not None and not grad_inputs and stored[2] == state and self._frozen()
                    and _equal(stored[0], args) and _equal(stored[1], kwargs)):
                self.reused += 1
                return stored[3]
            return original(*args, **kwargs)

        return forward

    @contextlib.contextmanager
    def producing(self) -> Iterator[None]:
        """Calls inside run the encoder and store the output for the next matching call outside."""
        self._producing = True
        try:
            yield
        finally:
            self._producing = False

    def clear(self) -> None:
        """Drop the stored output (the next call runs the encoder)."""
        self._stored = None

    def remove(self) -> None:
        """Put the encoders' own forward back."""
        for encoder, own in zip(self.encoders, self._own, strict=True):
            if own is not None:
                encoder.forward = own  # type: ignore[method-assign]
            elif "forward" in vars(encoder):
                del encoder.forward
        self._stored = None


def _encoder(adaptor: AudioStudentAdaptor) -> nn.Module | None:
    try:
        module = adaptor.hf_model.get_submodule(adaptor.encoder_prefix)
    except AttributeError:
        return None
    return module if isinstance(module, nn.Module) else None


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    first, second = dict(a.named_parameters()), dict(b.named_parameters())
    return first.keys() == second.keys() and all(
        first[k].shape == second[k].shape and bool(torch.equal(first[k], second[k].to(first[k].device)))
        for k in first)


def share_frozen_encoder(student: AudioStudentAdaptor, teacher: AudioStudentAdaptor | None
                         ) -> SharedEncoderPass | None:
    """Share the encoder's forward between `teacher` (None: the adapter form, the student's own modules)
    and `student` when that is exact (module notes); None when it is not."""
    mine = _encoder(student)
    if mine is None or any(p.requires_grad for p in mine.parameters()) or not is_deterministic(mine):
        return None
    theirs = _encoder(teacher) if teacher is not None else mine
    if theirs is None:
        return None
    if theirs is mine:
        return SharedEncoderPass([mine])
    if any(p.requires_grad for p in theirs.parameters()) or not _same_weights(mine, theirs):
        return None
    return SharedEncoderPass([mine, theirs])
