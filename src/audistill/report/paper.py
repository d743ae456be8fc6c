"""The paper's Table 1 (arXiv 2509.18579; student Qwen2.5-Omni-7B; MMAU test-mini accuracy %,
IEMOCAP session 5 unweighted accuracy %), keyed by the ladder rows the demo reproduces."""

from __future__ import annotations

PAPER_COLUMNS = ("sound", "music", "speech", "avg", "emotion_ua")

PAPER_TABLE1: dict[str, dict[str, float]] = {
    "base": {"sound": 74.47, "music": 66.47, "speech": 70.27, "avg": 70.40, "emotion_ua": 58.89},
    "sft": {"sound": 69.37, "music": 68.56, "speech": 71.47, "avg": 69.80, "emotion_ua": 51.93},
    "text_top": {"sound": 70.57, "music": 66.47, "speech": 73.87, "avg": 70.30, "emotion_ua": 54.13},
    "text_skip": {"sound": 70.87, "music": 68.86, "speech": 72.37, "avg": 70.70, "emotion_ua": 53.37},
    "text_layerwise": {"sound": 70.87, "music": 70.96, "speech": 75.68, "avg": 72.50,
                       "emotion_ua": 49.65},
    "full": {"sound": 75.38, "music": 70.36, "speech": 74.17, "avg": 73.30, "emotion_ua": 56.03},
}
