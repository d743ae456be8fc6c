"""Finished-stage markers, so that a rerun of the demo reuses synth, zoo, textualization and rows.

A stage is finished when its folder holds `.stage.json` whose key equals the key of the stage's
inputs (settings, upstream keys). A stage that was interrupted has no marker and is redone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from audistill.io import atomic_write_json

MARKER = ".stage.json"


def stage_key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def is_done(folder: Path, key: str) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("key") == key
    except json.JSONDecodeError:
        return False


def mark_done(folder: Path, key: str, **info: Any) -> None:
    atomic_write_json(folder / MARKER, {"key": key, **info})


def fresh(folder: Path) -> Path:
    """An empty folder for a stage about to be (re)done."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def read_marker(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MARKER).read_text())
