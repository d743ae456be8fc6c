"""Textualization: DSP descriptors measure the signal, every mode runs, a killed run resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audistill.cli import app
from audistill.data.readers import read_examples
from audistill.synth import oracle_description
from audistill.textualize import TextualizeError, textualize_file
from audistill.textualize.dsp import describe_signal, onset_times, rms_db
from audistill.textualize.run import partial_path

RATE = 16000


def chirp(f0: float, f1: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    return 0.5 * np.sin(phase).astype(np.float32)


def clicks(times: list[float], seconds: float = 1.5) -> np.ndarray:
    signal = np.random.default_rng(0).normal(0, 1e-3, int(seconds * RATE)).astype(np.float32)
    for t in times:
        start = int(t * RATE)
        signal[start:start + 160] += np.hanning(160).astype(np.float32) * 0.8
    return signal


def test_rms_of_a_known_sine() -> None:
    t = np.arange(RATE) / RATE
    sine = 0.5 * np.sin(2 * np.pi * 440 * t)
    assert rms_db(sine) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)  # -9.03 dB


def test_pitch_median_and_trend() -> None:
    rising = describe_signal(chirp(300, 1200, 1.0), RATE)
    assert rising.pitch_trend == "rising"
    assert 450 < rising.pitch_median_hz < 900  # the chirp's middle is 750 Hz
    assert describe_signal(chirp(1200, 300, 1.0), RATE).pitch_trend == "falling"
    steady = describe_signal(chirp(440, 440, 1.0), RATE)
    assert steady.pitch_trend == "flat" and steady.pitch_median_hz == pytest.approx(440, rel=0.03)


def test_onsets_of_three_clicks() -> None:
    found = onset_times(clicks([0.2, 0.6, 1.1]), RATE)
    assert len(found) == 3
    assert np.allclose(found, [0.2, 0.6, 1.1], atol=0.02)
    text = describe_signal(clicks([0.2, 0.6, 1.1]), RATE).text()
    assert "3 onsets at 0.20, 0.60, 1.10 s" in text and "1.5 s long" in text


def write_data(folder: Path, count: int = 5) -> Path:
    (folder / "audio").mkdir(parents=True)
    rows = []
    for i in range(count):
        sf.write(folder / "audio" / f"{i}.wav", clicks([0.2 + 0.1 * j for j in range(i % 3 + 1)]), RATE)
        meta = {"kind": "sounds", "duration": 1.5, "snr_db": 30.0, "events": [
            {"kind": "click", "onset": round(0.2 + 0.1 * j, 2), "duration": 0.01, "level_db": -6.0}
            for j in range(i % 3 + 1)]}
        rows.append({"id": f"q{i}", "audio_id": f"./audio/{i}.wav", "question": "How many clicks?",
                     "choices": ["1", "2", "3"], "answer": str(i % 3 + 1), "dataset": "t", "task": "sound",
                     "split": "test", "category": "c", "sub-category": "event counting",
                     "difficulty": "easy", "meta": meta})
    path = folder / "data.json"
    path.write_text(json.dumps(rows))
    return path


def test_oracle_and_dsp_modes_write_descriptions(tmp_path: Path) -> None:
    data = write_data(tmp_path / "in")
    oracle = textualize_file(data, tmp_path / "oracle.json", mode="oracle")
    examples = read_examples(oracle)
    assert [e.description for e in examples] == [oracle_description(e.meta) for e in examples]
    dsp = read_examples(textualize_file(data, tmp_path / "dsp.json", mode="dsp"))
    counts = [e.description.split(";")[-1] for e in dsp]
    assert counts[0].strip().startswith("1 onset at") and counts[2].strip().startswith("3 onsets")
    assert all(Path(e.audio).is_file() for e in dsp)  # audio still resolves from the new folder
    assert not partial_path(tmp_path / "dsp.json").exists()


def test_student_modes_run_with_a_tiny_student(tmp_path: Path) -> None:
    from audistill.models.tiny import build_tiny_student

    student = build_tiny_student("qwen2_audio", tmp_path / "student", audio_window_s=2)
    data = write_data(tmp_path / "in", count=3)
    out = textualize_file(data, tmp_path / "student.json", mode="student", model=student, batch_size=2)
    both = textualize_file(data, tmp_path / "both.json", mode="student+dsp", model=student, batch_size=2)
    plain = read_examples(out)
    combined = read_examples(both)
    assert all(isinstance(e.description, str) for e in plain)
    for p, c in zip(plain, combined, strict=True):
        assert c.description.startswith(p.description) and "Measured:" in c.description


def test_bad_options_are_clear(tmp_path: Path) -> None:
    data = write_data(tmp_path / "in", count=1)
    with pytest.raises(TextualizeError, match="needs --model"):
        textualize_file(data, tmp_path / "x.json", mode="student")
    with pytest.raises(TextualizeError, match="choose one of"):
        textualize_file(data, tmp_path / "x.json", mode="guess")
    result = CliRunner().invoke(app, ["textualize", str(data), "--out", str(tmp_path / "y.json"),
                                      "--mode", "student"])
    assert result.exit_code == 1 and "needs --model" in result.output


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path: Path) -> None:
    data = write_data(tmp_path / "in", count=7)
    out = tmp_path / "out.json"
    # A child process describes rows one at a time and is SIGKILLed by itself after the third row.
    script = textwrap.dedent(f"""
        import os, signal
        from audistill.textualize import textualize_file
        from audistill.synth import oracle_description
        calls = []
        def describe(examples):
            calls.extend(examples)
            if len(calls) > 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return [oracle_description(e.meta) for e in examples]
        textualize_file({str(data)!r}, {str(out)!r}, mode="oracle", batch_size=1, describer=describe)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -9
    assert not out.exists()
    finished = [json.loads(line)["id"] for line in partial_path(out).read_text().splitlines()]
    assert finished == ["q0", "q1", "q2"]
    seen: list[str] = []

    def describe(examples):
        seen.extend(e.id for e in examples)
        return [oracle_description(e.meta) for e in examples]

    textualize_file(data, out, mode="oracle", batch_size=2, describer=describe)
    assert seen == ["q3", "q4", "q5", "q6"]
    ids = [e.id for e in read_examples(out)]
    assert ids == [f"q{i}" for i in range(7)]
    assert all(e.description for e in read_examples(out))
