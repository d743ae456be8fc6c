"""The Accelerate training loop: accumulation, normalisation, checkpoints, resume, logging."""
