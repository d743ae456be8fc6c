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


def _unload(lib: ctypes.CDLL) -> None:
    """dlclose the library, so that the next load starts from fresh static variables."""
    import _ctypes

    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(lib._handle)


def _open(lib_path: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(lib_path)
    except OSError as exc:
        raise EspeakError(f"cannot load the espeak-ng library {lib_path} ({exc}); {INSTALL_HINT}") from None


def check_library() -> None:
    """Fail with an EspeakError that says how to install espeak-ng unless it loads and has its
    voice data and the seeding function (espeak-ng 1.52 or newer); leaves nothing loaded."""
    lib_path, data_path = library_paths()
    lib = _open(lib_path)
    has_seed = hasattr(lib, "espeak_ng_SetRandSeed")
    _unload(lib)
    if not Path(data_path).is_dir():
        raise EspeakError(f"espeak-ng voice data folder {data_path} is missing; {INSTALL_HINT}")
    if not has_seed:
        raise EspeakError(
            f"{lib_path} lacks espeak_ng_SetRandSeed (espeak-ng 1.52 or newer is needed for reproducible "
            f"speech); {INSTALL_HINT}"
        )


class Espeak:
    """espeak-ng that speaks each text from the same starting state.

    The library keeps state between utterances in static variables (its pitch-flutter phase,
    for one) and draws noise from its own random generator. So that a clip depends on its own
    settings only, never on what was spoken before it in the process, every utterance reloads
    the library (dlclose then dlopen: fresh statics, a few milliseconds) and seeds its random
    generator.
    """

    def __init__(self) -> None:
        check_library()
        self._lib_path, self._data_path = library_paths()
        self._lib: ctypes.CDLL | None = None
        self._chunks: list[np.ndarray] = []
        # The ctypes callback object must outlive every synthesis call, so the engine keeps it.
        self._callback = _SYNTH_CALLBACK(self._collect)
        self.native_rate = 0

    def _restart(self) -> ctypes.CDLL:
        if self._lib is not None:
            self._lib.espeak_Terminate()
            _unload(self._lib)
            self._lib = None
        lib = _open(self._lib_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        native_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path.encode(), 0)
        if native_rate <= 0:
            raise EspeakError(
                f"espeak-ng failed to start with voice data {self._data_path} (espeak_Initialize "
                f"returned {native_rate}); {INSTALL_HINT}"
            )
        lib.espeak_SetSynthCallback(self._callback)
        self._lib, self.native_rate = lib, int(native_rate)
        return lib

    def _collect(self, wav: ctypes.Array, count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(
        self, text: str, voice: str, prosody: Prosody, sample_rate: int = 16000, seed: int = 0
    ) -> np.ndarray:
        """Speak `text` with an espeak voice name (e.g. "en-us+f3"), prosody settings and a seed
        for espeak's own noise; the same arguments always give the same samples."""
        lib = self._restart()
        lib.espeak_ng_SetRandSeed(int(seed))
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice named {voice!r}")
        for param, value in (
            (PARAM_RATE, prosody.rate),
            (PARAM_VOLUME, prosody.volume),
            (PARAM_PITCH, prosody.pitch),
            (PARAM_RANGE, prosody.range),
        ):
            if lib.espeak_SetParameter(param, int(value), 0) != 0:
                raise EspeakError(f"espeak-ng rejected parameter {param} = {value}")
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
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
    """This process's engine, made on first use (espeak-ng is not thread-safe: one per process)."""
    if not _ENGINE:
        _ENGINE.append(Espeak())
    return _ENGINE[0]
