"""Audio -> text descriptions the textual teacher reads: the student as captioner, measured DSP
descriptors, or the benchmark's oracle (`textualize_file`, `audistill textualize`)."""

from audistill.textualize.run import MODES, TextualizeError, textualize_file

__all__ = ["MODES", "TextualizeError", "textualize_file"]
