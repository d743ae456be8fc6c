"""What every run writes next to its outputs: resolved config, package versions, seed."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from audistill.io import atomic_write_json

TRACKED_PACKAGES = ("audistill", "torch", "transformers", "peft", "accelerate", "safetensors",
                    "tokenizers", "numpy", "soundfile", "soxr", "jiwer", "pydantic")


def package_versions() -> dict[str, Any]:
    """Versions of Python, the platform, the tracked packages and the git commit (if any)."""
    versions: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        versions["cuda"] = torch.version.cuda
        versions["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    versions["git_commit"] = _git_commit()
    return versions


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_versions(folder: str | Path) -> Path:
    path = Path(folder) / "versions.json"
    atomic_write_json(path, package_versions())
    return path
