"""The built-in benchmark: spoken, sound and music reasoning items with synthesized audio.

`generate(out_dir, settings_for("small"))` writes MMAU-format JSON, wavs and CARD.md;
`oracle_description(meta)` is the exact text view of a clip that the textual teacher reads.
"""

from audistill.synth.captions import caption, oracle_description
from audistill.synth.espeak import EspeakError
from audistill.synth.generate import SynthError, SynthResult, SynthSettings, generate, settings_for
from audistill.synth.plan import SIZE_PRESETS, SynthSizes

__all__ = [
    "SIZE_PRESETS",
    "EspeakError",
    "SynthError",
    "SynthResult",
    "SynthSettings",
    "SynthSizes",
    "caption",
    "generate",
    "oracle_description",
    "settings_for",
]
