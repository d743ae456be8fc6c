"""Speech through espeak-ng, loaded from the PyPI package espeakng-loader and driven by ctypes.

One engine per process: the library keeps global state and is not thread-safe, so a process pool
gives each worker its own engine (`engine()` creates it lazily). Speech comes back from the
library at its own rate (22,050 Hz for the bundled voices) and is resampled with soxr.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

INSTALL_HINT = (
    "install it with `pip install espeakng-loader` (it ships libespeak-ng and its voice data; "
    "no system package is needed)"
)

# speak_lib.h: espeak_AUDIO_OUTPUT, espeak_PARAMETER, espeak_POSITION_TYPE and espeakCHARS_UTF8.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
PARAM_RATE = 1
PARAM_VOLUME = 2
PARAM_PITCH = 3
PARAM_RANGE = 4

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or refused a request; the message says what to do."""


@dataclass(frozen=True)
class Prosody:
    """espeak_SetParameter values (speak_lib.h): rate in words per minute (80-450), volume
    0-200 (100 = normal), base pitch 0-100 (50 = normal), pitch range 0-100 (0 = monotone)."""

    rate: int
    volume: int
    pitch: int
    range: int


def library_paths() -> tuple[str, str]:
    """(shared library, voice data folder) from espeakng-loader; EspeakError if it is missing."""
    try:
        import espeakng_loader
    except ImportError:
        raise EspeakError(f"the Python package espeakng-loader is not installed; {INSTALL_HINT}") from None
    try:
        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except Exception as exc:  # the loader raises RuntimeError or OSError for a broken install
        raise EspeakError(
            f"espeakng-loader cannot find espeak-ng ({exc}); reinstall it: {INSTALL_HINT}"
        ) from None


def load_library() -> tuple[ctypes.CDLL, str]:
    """Open libespeak-ng and check its data folder exists, without starting the engine."""
    lib_path, data_path = library_paths()
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as exc:
        raise EspeakError(f"cannot load the espeak-ng library {lib_path} ({exc}); {INSTALL_HINT}") from None
    if not Path(data_path).is_dir():
        raise EspeakError(f"espeak-ng voice data folder {data_path} is missing; {INSTALL_HINT}")
    return lib, data_path


class Espeak:
    """A started espeak-ng engine that returns float32 mono speech at a requested rate."""

    def __init__(self) -> None:
        lib, data_path = load_library()
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        native_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if native_rate <= 0:
            raise EspeakError(
                f"espeak-ng failed to start with voice data {data_path} (espeak_Initialize returned "
                f"{native_rate}); {INSTALL_HINT}"
            )
        self._lib = lib
        self.native_rate = int(native_rate)
        self._chunks: list[np.ndarray] = []
        # The ctypes callback object must outlive every synthesis call, so the engine keeps it.
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes.Array, count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str, voice: str, prosody: Prosody, sample_rate: int = 16000) -> np.ndarray:
        """Speak `text` with an espeak voice name (e.g. "en-us+f3") and prosody settings."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice named {voice!r}")
        for param, value in (
            (PARAM_RATE, prosody.rate),
            (PARAM_VOLUME, prosody.volume),
            (PARAM_PITCH, prosody.pitch),
            (PARAM_RANGE, prosody.range),
        ):
            if self._lib.espeak_SetParameter(param, int(value), 0) != 0:
                raise EspeakError(f"espeak-ng rejected parameter {param} = {value}")
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise EspeakError(f"espeak-ng could not speak {text!r} (espeak_Synth returned {status})")
        if not self._chunks:
            raise EspeakError(f"espeak-ng produced no audio for {text!r}")
        raw = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        self._chunks = []
        if self.native_rate == sample_rate:
            return raw
        return soxr.resample(raw, self.native_rate, sample_rate, quality="HQ").astype(np.float32)


_ENGINE: list[Espeak] = []


def engine() -> Espeak:
    """This process's one engine (espeak-ng keeps global state), started on first use."""
    if not _ENGINE:
        _ENGINE.append(Espeak())
    return _ENGINE[0]
