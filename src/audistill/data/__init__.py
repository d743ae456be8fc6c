"""Examples, dataset readers, audio loading and row-level validation."""
