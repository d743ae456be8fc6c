"""The trained student as an ordinary Hugging Face checkpoint: `final/`.

`final/` holds the student (config.json, safetensors weights, generation config), its tokenizer and its
audio feature extractor (plus the processor and chat-template files of the original checkpoint, when it
had them), so it loads through `audistill.models.load` like any student checkpoint. Under LoRA the
adapter is merged into the base weights for `final/` and also kept as a peft adapter in `final/adapter/`.
Layer projections sit beside the student, not inside it: `final/projections.safetensors` (+ .json) for
the textual ones, `final/acoustic/` for acoustic ones. The folder is assembled under `.final.tmp` and
renamed into place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from audistill.distill.objective import JointObjective
from audistill.models.adaptor import AudioStudentAdaptor
from audistill.models.checkpoint import quiet_transformers
from audistill.train.checkpoint import ACOUSTIC_DIR

FINAL_DIR = "final"
ADAPTER_DIR = "adapter"
# Small files of a source checkpoint that a processor needs and save_pretrained does not write.
PROCESSOR_FILES = ("processor_config.json", "chat_template.json", "chat_template.jinja")


def save_final(student: AudioStudentAdaptor, objective: JointObjective, out: Path) -> Path:
    """Write `out/final/` (see the module notes) and return it. Merges LoRA adapters in place: call it
    once, after the last optimizer step."""
    final = out / FINAL_DIR
    temp = out / ".final.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    with quiet_transformers():
        if student.has_adapter:
            student.model.save_pretrained(str(temp / ADAPTER_DIR))
            student.model = student.model.merge_and_unload()
        student.hf_model.save_pretrained(str(temp))
    student.tokenizer.save_pretrained(str(temp))
    student.feature_extractor.save_pretrained(str(temp))
    source = Path(student.path)
    for name in PROCESSOR_FILES:
        if (source / name).is_file() and not (temp / name).exists():
            shutil.copy2(source / name, temp / name)
    if objective.text_projections is not None:
        objective.text_projections.save(temp)
    if objective.acoustic_projections is not None:
        objective.acoustic_projections.save(temp / ACOUSTIC_DIR)
    if final.exists():
        shutil.rmtree(final)
    temp.rename(final)
    return final
