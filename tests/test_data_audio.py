"""Audio loading and checking: formats, mixdown, resampling, and each kind of unusable file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audistill.data.audio import (
    AUDIO_EMPTY,
    AUDIO_MISSING,
    AUDIO_NOT_FINITE,
    AUDIO_TOO_LONG,
    AUDIO_UNDECODABLE,
    AudioError,
    audio_duration,
    check_audio,
    load_audio,
)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "tolerance"),
    [
        ("wav", "WAV", "PCM_16", 1e-3),
        ("flac", "FLAC", "PCM_16", 1e-3),
        ("ogg", "OGG", "VORBIS", None),  # lossy: compared by pitch and length, not sample by sample
    ],
)
def test_loads_each_format_at_its_rate(tmp_path: Path, suffix: str, fmt: str, subtype: str,
                                       tolerance: float | None) -> None:
    signal = sine(440.0, 16000, 1.0)
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, signal, 16000, format=fmt, subtype=subtype)
    loaded = load_audio(path, sample_rate=16000)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert len(loaded) == len(signal)
    assert abs(peak_hz(loaded, 16000) - 440.0) < 2.0
    if tolerance is not None:
        np.testing.assert_allclose(loaded, signal, atol=tolerance)
    assert audio_duration(path) == pytest.approx(1.0)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = sine(300.0, 16000, 0.5, amplitude=0.6)
    right = sine(700.0, 16000, 0.5, amplitude=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    mono = load_audio(path, sample_rate=16000)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    assert check_audio(path).channels == 2


def test_resampling_to_16k_keeps_a_sines_frequency(tmp_path: Path) -> None:
    path = tmp_path / "hi.wav"
    sf.write(path, sine(1000.0, 44100, 2.0), 44100, subtype="FLOAT")
    out = load_audio(path, sample_rate=16000)
    assert len(out) == 32000
    assert abs(peak_hz(out, 16000) - 1000.0) < 1.0
    # A real resampler keeps the amplitude (no aliasing, no gain change) away from the edges.
    assert np.max(np.abs(out[1000:-1000])) == pytest.approx(0.5, abs=0.01)


def test_resampling_removes_tones_above_the_new_nyquist(tmp_path: Path) -> None:
    # 11 kHz is above 8 kHz (Nyquist at 16 kHz): naive decimation would fold it to 5 kHz.
    path = tmp_path / "alias.wav"
    sf.write(path, sine(11000.0, 44100, 1.0), 44100, subtype="FLOAT")
    out = load_audio(path, sample_rate=16000)
    assert np.sqrt(np.mean(out[2000:-2000] ** 2)) < 0.01


def test_check_audio_reports_duration_and_rate(tmp_path: Path) -> None:
    path = tmp_path / "a.flac"
    sf.write(path, sine(440.0, 22050, 1.5), 22050, format="FLAC")
    info = check_audio(path, max_seconds=2.0)
    assert info.duration == pytest.approx(1.5)
    assert info.sample_rate == 22050


def _unusable(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind.replace(' ', '_').replace('/', '_')}.wav"
    if kind == AUDIO_MISSING:
        return path
    if kind == AUDIO_UNDECODABLE:
        path.write_bytes(b"RIFF\x00\x00not really a wave file")
    elif kind == AUDIO_EMPTY:
        sf.write(path, np.zeros((0,), dtype=np.float32), 16000, subtype="FLOAT")
    elif kind == AUDIO_NOT_FINITE:
        samples = sine(440.0, 16000, 0.1)
        samples[10] = np.nan
        sf.write(path, samples, 16000, subtype="FLOAT")
    elif kind == AUDIO_TOO_LONG:
        sf.write(path, sine(440.0, 8000, 3.0), 8000)
    return path


@pytest.mark.parametrize("kind", [AUDIO_MISSING, AUDIO_UNDECODABLE, AUDIO_EMPTY, AUDIO_NOT_FINITE,
                                  AUDIO_TOO_LONG])
def test_unusable_audio_is_rejected_with_its_kind_and_path(tmp_path: Path, kind: str) -> None:
    path = _unusable(tmp_path, kind)
    with pytest.raises(AudioError) as caught:
        check_audio(path, max_seconds=2.0)
    assert caught.value.kind == kind
    assert str(path) in str(caught.value)
    if kind != AUDIO_TOO_LONG:  # load_audio has no length limit; every other kind fails there too
        with pytest.raises(AudioError):
            load_audio(path)


def test_inf_samples_are_rejected(tmp_path: Path) -> None:
    samples = sine(440.0, 16000, 0.1)
    samples[-1] = np.inf
    path = tmp_path / "inf.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or inf"):
        load_audio(path)


def test_clip_at_exactly_the_maximum_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    sf.write(path, sine(440.0, 8000, 2.0), 8000)
    assert check_audio(path, max_seconds=2.0).duration == pytest.approx(2.0)
