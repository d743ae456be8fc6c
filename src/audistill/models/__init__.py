"""Adapters that give every audio LM and text LM one face, and the tiny model zoo.

- `record`: ForwardRecord, the one record every adaptor returns.
- `batch`: TextBatch / StudentBatch, the padded tensors adaptors read (built by `audistill.views`).
- `adaptor`: ModelAdaptor and its families (TextLMAdaptor, Qwen2AudioAdaptor, OmniThinkerAdaptor).
- `load`: load_student / load_text_teacher / load_adaptor from the run config.
- `checkpoint`: local folder or hub id, family detection, dtype and device.
- `trainable`: LoRA on the language model and freezing of the audio encoder and projector.
- `vocab`: the shared vocabulary (min of both widths, masked ids removed).
- `tiny`: tiny random models of the real HF classes for tests, the bench and the demo.
"""
