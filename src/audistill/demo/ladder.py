"""The rows of the ablation ladder: the paper's Table 1 and the rows beyond it.

Each row is the demo's base run config plus a few overrides. Keys match report/paper.py so the
paper's numbers land beside ours. Layer maps are scaled to the nano student: the paper's "1 in 7"
of a 28-layer student (4 of 28 layers) becomes every k-th layer with k = max(2, L_S // 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LadderRow:
    key: str
    label: str
    overrides: tuple[str, ...] = ()
    trains: bool = True
    beyond_paper: bool = False
    descriptions: str = "student"  # which textualization the textual teacher reads
    notes: tuple[str, ...] = field(default_factory=tuple)


TEXT_OFF = ("textual_teacher.enabled=false",)
ACOUSTIC_OFF = ("acoustic_teacher.enabled=false",)
ACOUSTIC_ON = ("acoustic_teacher.enabled=true",)


def paper_rows(skip_k: int) -> list[LadderRow]:
    return [
        LadderRow("base", "base student (no training)", trains=False),
        LadderRow("sft", "SFT only", TEXT_OFF + ACOUSTIC_OFF),
        LadderRow("text_top", "top-layer text KD + SFT",
                  ("textual_teacher.layers.strategy=none", *ACOUSTIC_OFF)),
        LadderRow("text_skip", f"skip-layer text KD (1 in {skip_k}) + SFT",
                  ("textual_teacher.layers.strategy=skip", f"textual_teacher.layers.k={skip_k}",
                   *ACOUSTIC_OFF)),
        LadderRow("text_layerwise", "layer-wise text KD + SFT",
                  ("textual_teacher.layers.strategy=proportional", *ACOUSTIC_OFF)),
        LadderRow("full", "layer-wise text KD + acoustic KD + SFT",
                  ("textual_teacher.layers.strategy=proportional", *ACOUSTIC_ON)),
    ]


def extended_rows() -> list[LadderRow]:
    return [
        LadderRow("acoustic_only", "acoustic KD + SFT (no text KD)", TEXT_OFF + ACOUSTIC_ON,
                  beyond_paper=True),
        LadderRow("full_projected", "full method, projected MSE layers",
                  ("textual_teacher.layers.strategy=proportional",
                   "textual_teacher.layers.compare=projected_mse", *ACOUSTIC_ON), beyond_paper=True),
        LadderRow("full_oracle", "full method, oracle descriptions",
                  ("textual_teacher.layers.strategy=proportional", *ACOUSTIC_ON), beyond_paper=True,
                  descriptions="oracle"),
    ]


def ladder(skip_k: int, extended: bool) -> list[LadderRow]:
    return paper_rows(skip_k) + (extended_rows() if extended else [])


def skip_step(student_layers: int) -> int:
    return max(2, student_layers // 4)
