"""The zoo's cache key: a hash of the data (JSON files and every audio file they use), the zoo config
and the code version (the source of the modules that shape the models, and the library versions).

A rebuild happens exactly when one of these changes; a rerun with nothing changed only reads the
files to hash them (about a second for the demo data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import audistill
from audistill.models.zoo.config import ZooConfig

_CODE_MODULES = ("models/zoo", "models/tiny.py", "models/adaptor.py", "views.py", "synth/captions.py",
                 "eval/generate.py", "eval/metrics.py")
_LIBRARIES = ("torch", "transformers", "tokenizers")


def _hash_files(paths: Iterable[Path], digest: Any) -> None:
    for path in paths:
        digest.update(str(path.name).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def data_hash(json_files: Iterable[Path], audio_files: Iterable[str]) -> str:
    """Hash of the data files' bytes and of every audio file's bytes (sorted, so order never matters)."""
    digest = hashlib.blake2b(digest_size=16)
    _hash_files(sorted(Path(p) for p in json_files), digest)
    _hash_files(sorted({Path(p) for p in audio_files}), digest)
    return digest.hexdigest()


def code_version() -> str:
    """Hash of the zoo's shaping source files plus audistill's and the libraries' versions."""
    root = Path(audistill.__file__).parent
    files: list[Path] = []
    for name in _CODE_MODULES:
        path = root / name
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for library in _LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "none"
        digest.update(f"{library}={version}".encode())
    digest.update(audistill.__version__.encode())
    return digest.hexdigest()


def cache_key(data: str, config: ZooConfig, code: str) -> str:
    return hashlib.sha256(f"{data}|{config.hash()}|{code}".encode()).hexdigest()[:20]
