"""Acoustic units: the label sequence the student's encoder learns to emit (CTC) before the decoder trains.

A unit is something a listener can point at in time: for speech the voice's emotion (first) and each
word of the transcript; for sounds each event with its length and loudness ("long loud beep"); for a
melody each note's name, then its tempo; for a triad its three note names, then its quality. A
transcript word is taken after the WER normalisation (lowercase, punctuation dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from audistill.eval.metrics import normalise_transcript


def acoustic_units(meta: dict[str, Any]) -> list[str]:
    """The clip's unit sequence, in time order (global labels first or last, as documented above)."""
    kind = meta.get("kind")
    if kind == "speech":
        return [f"<{meta['emotion']}>", *normalise_transcript(str(meta["transcript"])).split()]
    if kind == "sounds":
        return [" ".join(str(e[k]) for k in ("length", "loudness", "kind") if k in e) for e in meta["events"]]
    if kind == "melody":
        return [str(n["name"]) for n in meta["notes"]] + [f"<{meta['tempo']}>"]
    if kind == "triad":
        return [str(n["name"]) for n in meta["notes"][:3]] + [f"<{meta['quality']}>"]
    raise ValueError(f"no acoustic units for clip kind {kind!r}")


class UnitVocabulary:
    """Unit strings <-> ids; id `blank` (the last) is CTC's blank. Units unseen in training are dropped."""

    def __init__(self, units: Iterable[str]) -> None:
        self.units: list[str] = sorted(set(units))
        self.index = {unit: i for i, unit in enumerate(self.units)}

    @classmethod
    def from_metas(cls, metas: Iterable[dict[str, Any]]) -> UnitVocabulary:
        return cls(unit for meta in metas for unit in acoustic_units(meta))

    @property
    def blank(self) -> int:
        return len(self.units)

    def __len__(self) -> int:
        """Output classes of a CTC head: every unit plus the blank."""
        return len(self.units) + 1

    def encode(self, units: Sequence[str]) -> list[int]:
        return [self.index[u] for u in units if u in self.index]

    def decode_greedy(self, best: Sequence[int]) -> list[str]:
        """CTC's greedy reading of per-frame argmax ids: merge repeats, drop blanks."""
        out: list[str] = []
        previous = None
        for i in best:
            if i != previous and i != self.blank:
                out.append(self.units[i])
            previous = i
        return out
