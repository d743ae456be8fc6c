"""Audio loading: wav, flac and ogg through soundfile, mixed to mono, resampled with soxr.

Every failure is an AudioError whose `kind` names the problem in a few words (for validation
summaries) and whose message names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# Kinds of unusable audio, shared with validation summaries.
AUDIO_MISSING = "audio file missing"
AUDIO_UNDECODABLE = "audio does not decode"
AUDIO_EMPTY = "audio empty"
AUDIO_TOO_LONG = "audio too long"
AUDIO_NOT_FINITE = "audio has NaN/inf"


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file and the reason."""

    def __init__(self, message: str, kind: str = AUDIO_UNDECODABLE) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class AudioInfo:
    """What a full decode of a file found."""

    duration: float  # seconds
    sample_rate: int  # Hz, as stored
    channels: int


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for undecodable files
        raise AudioError(f"{path}: cannot decode audio ({exc})", AUDIO_UNDECODABLE) from None
    return float(info.frames) / float(info.samplerate) if info.samplerate else 0.0


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """All samples as float32 (frames, channels) and the stored rate; errors name the file."""
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found", AUDIO_MISSING)
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})", AUDIO_UNDECODABLE) from None
    if samples.shape[0] == 0 or samples.shape[1] == 0:
        raise AudioError(f"{path}: audio is empty (0 samples)", AUDIO_EMPTY)
    if not np.isfinite(samples).all():
        raise AudioError(f"{path}: audio holds NaN or inf samples", AUDIO_NOT_FINITE)
    return samples, int(rate)


# Integer encodings cannot hold NaN/inf, so their samples are decoded as int16 (the cheapest
# conversion) only to prove they decode; float encodings are decoded as float32 and checked.
_BLOCK_FRAMES = 1 << 18


def _integer_encoded(subtype: str) -> bool:
    return subtype.startswith(("PCM_", "ALAC_", "DPCM_")) or subtype in ("ULAW", "ALAW")


def check_audio(path: str | Path, max_seconds: float | None = None) -> AudioInfo:
    """Decode a whole file once and check it is usable: exists, decodes, non-empty, finite samples,
    and at most `max_seconds` long. Returns what was found; raises AudioError otherwise.

    Decoding every sample (not only the header) is what catches corrupt data and NaN samples. It
    runs block by block, so memory stays small for long files; a file whose header already says it
    is too long is rejected without decoding.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: audio file not found", AUDIO_MISSING)
    try:
        with sf.SoundFile(str(p)) as handle:
            rate, channels, subtype = handle.samplerate, handle.channels, handle.subtype
            if max_seconds is not None and rate > 0 and handle.frames / rate > max_seconds:
                _too_long(p, handle.frames / rate, max_seconds)
            integer = _integer_encoded(subtype)
            frames = 0
            for block in handle.blocks(_BLOCK_FRAMES, dtype="int16" if integer else "float32",
                                       always_2d=True):
                frames += block.shape[0]
                if not integer and not np.isfinite(block).all():
                    raise AudioError(f"{p}: audio holds NaN or inf samples", AUDIO_NOT_FINITE)
    except AudioError:
        raise
    except Exception as exc:  # soundfile raises several types for undecodable files
        raise AudioError(f"{p}: cannot decode audio ({exc})", AUDIO_UNDECODABLE) from None
    if frames == 0 or channels == 0 or rate <= 0:
        raise AudioError(f"{p}: audio is empty (0 samples)", AUDIO_EMPTY)
    duration = frames / rate
    if max_seconds is not None and duration > max_seconds:
        _too_long(p, duration, max_seconds)
    return AudioInfo(duration=duration, sample_rate=rate, channels=channels)


def _too_long(path: Path, duration: float, max_seconds: float) -> None:
    raise AudioError(
        f"{path}: audio is {duration:.2f} s long, above the maximum of {max_seconds:g} s "
        "(data.max_audio_seconds)",
        AUDIO_TOO_LONG,
    )


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a file to float32 mono at `sample_rate` Hz; reject missing, empty or non-finite audio.

    Channels are averaged (not summed) so a mono signal copied to two channels comes back unchanged.
    Resampling uses soxr's high-quality band-limited filter, which keeps frequencies below the
    new Nyquist rate in place and removes those above it.
    """
    samples, rate = _decode(Path(path))
    mono = samples.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
