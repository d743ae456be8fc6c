"""Offline textual-teacher cache: top-k log-probabilities of every target token, sharded.

Layout of a cache folder:

    manifest.json            what made it (teacher id, tokenizer hash, config hash, k) and, per
                             shard, its file, sha256, token count and the example ids it holds
    shard-00000.safetensors  ids [N, k] int32, logprobs [N, k] float16, offsets [E + 1] int64

Row t of a shard is target token t of the shard's examples in order; example j owns rows
offsets[j]:offsets[j+1]. Bytes per target token at k = 32: 32 * 4 + 32 * 2 = 192 (+ offsets).
The tail mass that top-k leaves out is 1 - sum(exp(logprobs)); it is not stored.

Every shard is written atomically before the manifest names it, and the manifest is rewritten
atomically after each shard, so an interrupted run resumes at the first example no complete shard
holds; a shard whose sha256 no longer matches (truncated, edited) is dropped and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from audistill.io import atomic_write_json

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class CacheError(ValueError):
    """A cache that cannot be used for this run; the message says what differs."""


@dataclass(frozen=True)
class CacheKey:
    """What a cache's contents depend on; a cache made under another key is refused."""

    teacher: str
    tokenizer_hash: str
    config_hash: str
    k: int

    def as_dict(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "tokenizer_hash": self.tokenizer_hash,
                "config_hash": self.config_hash, "k": self.k}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CacheError(f"{path}: manifest is not valid JSON ({exc})") from None


def _check_key(manifest: dict[str, Any], key: CacheKey, folder: Path) -> None:
    stored = manifest.get("key", {})
    for name, wanted in key.as_dict().items():
        if stored.get(name) != wanted:
            raise CacheError(
                f"{folder / MANIFEST}: cache was made with {name}={stored.get(name)!r} but this run "
                f"needs {name}={wanted!r}; rebuild it with `audistill cache` or point "
                "textual_teacher.cache_dir elsewhere"
            )


class TeacherCacheWriter:
    """Appends examples' top-k signals; call `finish()` at the end. Resumes a partial cache."""

    def __init__(self, folder: str | Path, key: CacheKey, shard_examples: int = 256) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.shard_examples = shard_examples
        self.shards: list[dict[str, Any]] = []
        manifest = _read_manifest(self.folder)
        if manifest is not None:
            _check_key(manifest, key, self.folder)
            for shard in manifest.get("shards", []):
                path = self.folder / shard["file"]
                if path.is_file() and sha256_file(path) == shard["sha256"]:
                    self.shards.append(shard)
                else:
                    break  # this shard and all after it are rewritten
        self.done_ids: set[str] = {eid for shard in self.shards for eid in shard["examples"]}
        self._pending: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        self._write_manifest(complete=False)

    def add(self, example_id: str, ids: torch.Tensor, logprobs: torch.Tensor) -> None:
        """One example's target tokens: ids [n, k] and log-probabilities [n, k]."""
        if ids.shape != logprobs.shape or ids.dim() != 2 or ids.shape[1] != self.key.k:
            raise CacheError(f"example {example_id}: expected ids and logprobs of shape [n, "
                             f"{self.key.k}], got {tuple(ids.shape)} and {tuple(logprobs.shape)}")
        if example_id in self.done_ids:
            return
        self._pending.append((example_id, ids.to(torch.int32).cpu(),
                              logprobs.to(torch.float16).cpu()))
        self.done_ids.add(example_id)
        if len(self._pending) >= self.shard_examples:
            self._flush()

    def finish(self) -> Path:
        self._flush()
        self._write_manifest(complete=True)
        return self.folder

    def _flush(self) -> None:
        if not self._pending:
            return
        index = len(self.shards)
        name = f"shard-{index:05d}.safetensors"
        counts = [ids.shape[0] for _, ids, _ in self._pending]
        offsets = torch.tensor([0, *counts], dtype=torch.int64).cumsum(0)
        tensors = {
            "ids": torch.cat([ids for _, ids, _ in self._pending]).contiguous(),
            "logprobs": torch.cat([lp for _, _, lp in self._pending]).contiguous(),
            "offsets": offsets,
        }
        tmp = self.folder / f".{name}.partial"
        save_file(tensors, str(tmp))
        os.replace(tmp, self.folder / name)
        self.shards.append({"file": name, "sha256": sha256_file(self.folder / name),
                            "tokens": int(offsets[-1]), "examples": [e for e, _, _ in self._pending]})
        self._pending = []
        self._write_manifest(complete=False)

    def _write_manifest(self, complete: bool) -> None:
        atomic_write_json(self.folder / MANIFEST, {
            "format_version": FORMAT_VERSION, "key": self.key.as_dict(), "complete": complete,
            "shards": self.shards,
        })


class TeacherCacheReader:
    """Reads a complete cache made under `key`; refuses any other."""

    def __init__(self, folder: str | Path, key: CacheKey, verify: bool = True) -> None:
        self.folder = Path(folder)
        manifest = _read_manifest(self.folder)
        if manifest is None:
            raise CacheError(f"{self.folder}: no {MANIFEST}; run `audistill cache CONFIG` first")
        _check_key(manifest, key, self.folder)
        if not manifest.get("complete"):
            raise CacheError(f"{self.folder}: cache is incomplete (interrupted run); rerun "
                             "`audistill cache` to finish it")
        self.k = key.k
        self._where: dict[str, tuple[int, int]] = {}
        self._shards: list[dict[str, torch.Tensor]] = []
        for number, shard in enumerate(manifest["shards"]):
            path = self.folder / shard["file"]
            if not path.is_file():
                raise CacheError(f"{path}: shard listed in the manifest is missing")
            if verify and sha256_file(path) != shard["sha256"]:
                raise CacheError(f"{path}: sha256 does not match the manifest (corrupt or "
                                 "truncated); rerun `audistill cache` to rewrite it")
            self._shards.append(load_file(str(path)))
            for row, example_id in enumerate(shard["examples"]):
                self._where[example_id] = (number, row)

    def __contains__(self, example_id: str) -> bool:
        return example_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def get(self, example_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids [n, k] int64, logprobs [n, k] float32) of one example's target tokens."""
        if example_id not in self._where:
            raise CacheError(f"{self.folder}: example {example_id!r} is not in the cache")
        number, row = self._where[example_id]
        shard = self._shards[number]
        start, end = int(shard["offsets"][row]), int(shard["offsets"][row + 1])
        return shard["ids"][start:end].long(), shard["logprobs"][start:end].float()

    def batch(self, example_ids: Iterable[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenated (ids [T, k], logprobs [T, k]) in the given example order."""
        parts = [self.get(e) for e in example_ids]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def cache_bytes_per_token(folder: str | Path) -> float:
    """Bytes on disk per cached target token (all shards and the manifest)."""
    root = Path(folder)
    manifest = _read_manifest(root)
    if manifest is None:
        raise CacheError(f"{root}: no {MANIFEST}")
    tokens = sum(s["tokens"] for s in manifest["shards"])
    size = sum((root / s["file"]).stat().st_size for s in manifest["shards"])
    size += (root / MANIFEST).stat().st_size
    return size / max(tokens, 1)
