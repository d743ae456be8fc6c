"""The paper's claims, each checked on our measured means and stated plainly.

A claim compares row means in one direction. It "holds" when every comparison goes the claimed
way, "does not hold" otherwise; with several seeds a comparison whose 95% intervals overlap is
flagged "within noise", since the ordering could flip with other seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from audistill.eval.stats import MeanCI
from audistill.report.table import RowResults, row_cells


@dataclass(frozen=True)
class Comparison:
    """`better` beats `worse` on `column` (higher is better, except WER)."""

    better: str
    worse: str
    column: str


@dataclass(frozen=True)
class Claim:
    text: str
    comparisons: tuple[Comparison, ...]


PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("SFT alone hurts reasoning: SFT only scores a lower average than the base student.",
          (Comparison("base", "sft", "avg"),)),
    Claim("SFT alone erodes acoustic skills: SFT only has a lower emotion UA than the base student.",
          (Comparison("base", "sft", "emotion_ua"),)),
    Claim("More layers of text KD help reasoning: top-layer < skip-layer < layer-wise (average).",
          (Comparison("text_skip", "text_top", "avg"), Comparison("text_layerwise", "text_skip", "avg"))),
    Claim("Text KD alone erodes acoustic skills: layer-wise text KD + SFT has a lower emotion UA than "
          "the base student.", (Comparison("base", "text_layerwise", "emotion_ua"),)),
    Claim("The acoustic teacher wins them back: the full method beats layer-wise text KD on emotion UA "
          "and on sound.", (Comparison("full", "text_layerwise", "emotion_ua"),
                            Comparison("full", "text_layerwise", "sound"))),
    Claim("The full method gives the best average of all rows.", ()),
)


@dataclass
class ClaimVerdict:
    claim: str
    verdict: str  # "holds", "does not hold", "not measured"
    evidence: str


def _beats(better: MeanCI, worse: MeanCI, column: str) -> bool:
    if column == "wer":
        return better.mean < worse.mean
    return better.mean > worse.mean


def _overlap(a: MeanCI, b: MeanCI) -> bool:
    if math.isnan(a.half_width) or math.isnan(b.half_width):
        return False
    return a.low <= b.high and b.low <= a.high


def check_claims(rows: Sequence[RowResults]) -> list[ClaimVerdict]:
    cells = {row.key: row_cells(row) for row in rows}
    labels = {row.key: row.label for row in rows}
    verdicts: list[ClaimVerdict] = []
    for claim in PAPER_CLAIMS:
        comparisons = claim.comparisons
        if not comparisons:  # "best average of all rows"
            paper_rows = [r.key for r in rows if not r.beyond_paper]
            comparisons = tuple(Comparison("full", key, "avg") for key in paper_rows if key != "full")
        parts, ok, measured = [], True, True
        for comp in comparisons:
            if comp.better not in cells or comp.worse not in cells:
                measured = False
                continue
            a, b = cells[comp.better][comp.column], cells[comp.worse][comp.column]
            if math.isnan(a.mean) or math.isnan(b.mean):
                measured = False
                continue
            won = _beats(a, b, comp.column)
            ok &= won
            noise = " (within noise: the 95% intervals overlap)" if _overlap(a, b) else ""
            sign = ">" if a.mean > b.mean else "<" if a.mean < b.mean else "="
            parts.append(f"{labels[comp.better]} {a.mean:.1f} {sign} {labels[comp.worse]} "
                         f"{b.mean:.1f} on {comp.column}{noise}")
        if not measured:
            verdicts.append(ClaimVerdict(claim.text, "not measured", "; ".join(parts) or "rows missing"))
        else:
            verdicts.append(ClaimVerdict(claim.text, "holds" if ok else "does not hold", "; ".join(parts)))
    return verdicts
