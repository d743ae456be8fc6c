"""Finished-stage markers, so that a rerun of the demo reuses synth, zoo, textualization and rows.

A stage is finished when its folder holds `.stage.json` whose key equals the key of the stage's
inputs (settings, upstream keys). A stage that was interrupted has no marker and is redone; one that
can pick up where it stopped (textualization's partial file) is started with `begin`, which keeps the
folder when its `.stage-pending.json` names the same key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from audistill.io import atomic_write_json

MARKER = ".stage.json"
PENDING = ".stage-pending.json"


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
    (folder / PENDING).unlink(missing_ok=True)


def begin(folder: Path, key: str) -> bool:
    """Start (or go on with) an unfinished stage: True when the folder holds the partial work of the same
    key and is kept; otherwise it is emptied first."""
    try:
        pending = json.loads((folder / PENDING).read_text()).get("key")
    except (OSError, json.JSONDecodeError):
        pending = None
    if pending == key and not (folder / MARKER).exists():
        return True
    fresh(folder)
    atomic_write_json(folder / PENDING, {"key": key})
    return False


def fresh(folder: Path) -> Path:
    """An empty folder for a stage about to be (re)done."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def read_marker(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MARKER).read_text())
