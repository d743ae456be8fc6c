"""Where a model lives and what it is: local folders or hub ids, family detection, dtype and device.

No hub access is ever required: a local folder is used as it is; a hub id is looked up in the local
Hugging Face cache first and downloaded only when the hub can be reached. Offline (HF_HUB_OFFLINE=1 or
no network), an uncached hub id is a clear error that asks for a local path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch

Family = Literal["qwen2_audio", "qwen2_5_omni_thinker", "causal_lm"]
STUDENT_FAMILIES: tuple[str, ...] = ("qwen2_audio", "qwen2_5_omni_thinker")

# model_type in config.json -> adaptor family. The full Omni checkpoint holds thinker, talker and
# token2wav; only the thinker (the text-producing audio LM) is loaded.
_STUDENT_MODEL_TYPES = {
    "qwen2_audio": "qwen2_audio",
    "qwen2_5_omni": "qwen2_5_omni_thinker",
    "qwen2_5_omni_thinker": "qwen2_5_omni_thinker",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelLoadError(RuntimeError):
    """A model that cannot be found or loaded; the message names the config field and the path."""


def _offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def resolve_checkpoint(path: str, field: str = "path") -> Path:
    """The local folder holding checkpoint `path` (a local directory or a hub id).

    `field` is the config path named in errors (e.g. `student.path`).
    """
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelLoadError(f"{field}: {path}: folder has no config.json (not a model checkpoint)")
        return local
    if not _HUB_ID.match(path) or path.startswith((".", "/", "~")):
        raise ModelLoadError(f"{field}: {path}: model directory not found")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(path, local_files_only=True))
    except Exception:  # not in the local cache: fall through to the hub
        pass
    if _offline():
        raise ModelLoadError(
            f"{field}: {path!r} is not a local directory and is not in the Hugging Face cache, and the hub "
            "is offline (HF_HUB_OFFLINE). A local path is needed: download the model elsewhere and set "
            f"{field} to its folder."
        )
    try:
        return Path(snapshot_download(path))
    except Exception as exc:
        raise ModelLoadError(
            f"{field}: {path!r} is not a local directory and the hub cannot be reached "
            f"({type(exc).__name__}). A local path is needed: download the model and set {field} to its "
            "folder."
        ) from None


def read_model_type(folder: Path, field: str = "path") -> str:
    """config.json's model_type."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{field}: {folder}/config.json: cannot read ({exc})") from None
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ModelLoadError(f"{field}: {folder}/config.json: no model_type")
    return model_type


def detect_family(folder: Path, field: str = "path") -> Family:
    """The adaptor family of a checkpoint: an audio student family, or causal_lm for anything else."""
    model_type = read_model_type(folder, field)
    return _STUDENT_MODEL_TYPES.get(model_type, "causal_lm")  # type: ignore[return-value]


def resolve_device(device: str) -> torch.device:
    """`auto` -> the first CUDA device when there is one, else the CPU; anything else as torch reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"device {device!r}: {exc}") from None


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` -> bfloat16 on a GPU that supports it, else float32; or the named dtype."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ModelLoadError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    return table[dtype]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' info and warning chatter (config sanity notes of sub-models we never run)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """`quiet_transformers` plus no per-file progress bars (for callers that draw their own progress)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with quiet_transformers():
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
