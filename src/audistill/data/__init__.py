"""Examples, dataset readers, audio loading and row-level validation.

- example.py: the Example schema every reader produces.
- readers.py: `read_examples`, `iter_rows` (one Example or RowError per row, nothing skipped).
- formats.py / cota.py: our JSONL, MMAU JSON and CoTA rows -> Example; format auto-detection.
- rows.py: raw rows with their `PATH:LINE` / `PATH:INDEX` origin, RowError, DataError, Reason.
- trace.py: the structured `<THINK>..</THINK><RESPONSE>..</RESPONSE>` trace, parsed and formatted.
- audio.py: `load_audio` (mono, resampled) and `check_audio` (one full decode, usable or AudioError).
- validate.py: `validate_file` (the report of `audistill validate`) and `load_dataset` /
  `load_configured`, the loaders every command that reads data goes through.
- writers.py: our JSONL and MMAU JSON, written atomically.
"""
