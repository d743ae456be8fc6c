"""Audio loading: wav, flac and ogg through soundfile, mixed to mono, resampled with soxr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file and the reason."""


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for undecodable files
        raise AudioError(f"{path}: cannot decode audio ({exc})") from None
    return float(info.frames) / float(info.samplerate) if info.samplerate else 0.0


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a file to float32 mono at `sample_rate` Hz; reject empty or non-finite audio."""
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: audio file not found")
    try:
        samples, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{p}: cannot decode audio ({exc})") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{p}: audio is empty (0 samples)")
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioError(f"{p}: audio holds NaN or inf samples")
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)
