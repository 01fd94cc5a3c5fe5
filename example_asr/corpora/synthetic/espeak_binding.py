"""A small ctypes binding to eSpeak NG: the library, its engine, and its raw phoneme events.

The shared library and its data come from the PyPI package ``espeakng-loader``,
so nothing outside Python's packages is needed. eSpeak is initialised with
phoneme events on: while synthesising, it reports every phoneme it speaks
(its mnemonic such as ``'oU`` and the output sample where it starts).
:mod:`example_asr.corpora.synthetic.espeak` turns that into 16 kHz speech with its alignment.

eSpeak keeps global state, so this module owns one engine per process,
initialised lazily on first use and guarded by a lock; it reloads the library
before every synthesis so that equal arguments give equal samples. It is safe
in multiprocessing workers: a spawned worker initialises its own engine, and a
forked worker keeps the parent's (synchronous mode has no threads) with a
fresh lock.

Example::

    audio, events = speak("hello world", voice="en-us", rate=160, pitch=50, seed=0)
    # audio: int16 at 22,050 Hz; events (mnemonic, sample, ms): [("h", 286, 12), ("@", 1491, 67), ...]
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import threading

import numpy as np

__all__ = [
    "ESPEAK_SAMPLE_RATE",
    "EspeakError",
    "PITCH_RANGE",
    "RATE_RANGE",
    "espeak_version",
    "speak",
]

#: eSpeak's native output rate (Hz); :func:`example_asr.corpora.synthetic.espeak.synthesize` resamples it to 16 kHz.
ESPEAK_SAMPLE_RATE = 22_050

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0

#: Speaking rates (words per minute) that eSpeak accepts.
RATE_RANGE = (80, 450)
#: eSpeak's relative base pitch.
PITCH_RANGE = (0, 100)


class EspeakError(RuntimeError):
    """eSpeak could not be loaded, initialised, or asked to speak."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms since the start of the message
        ("sample", ctypes.c_int),  # output sample since the start of the message
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The process's eSpeak library handle and the buffers its callback fills.

    eSpeak keeps synthesis state in C statics that neither ``espeak_Initialize`` nor
    ``espeak_ng_SetRandSeed`` resets (e.g. the pitch-flutter phase and the gain
    control of its wave generator), so the same text comes out a few samples
    different each time. To make every call reproducible the engine loads a
    private copy of the library and reloads it (``dlclose`` + ``dlopen``: fresh
    statics, about 2 ms) before each synthesis after the first.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as error:  # pragma: no cover - a declared dependency
            raise EspeakError("install the PyPI package 'espeakng-loader' (pip install espeakng-loader)") from error
        self.data_path = espeakng_loader.get_data_path()
        source = espeakng_loader.get_library_path()
        # A private copy: nobody else holds a handle to it, so dlclose really unloads it.
        self._tempdir = tempfile.mkdtemp(prefix="example_asr_espeak_")
        self.library_path = os.path.join(self._tempdir, os.path.basename(source))
        try:
            shutil.copyfile(source, self.library_path)
        except OSError as error:
            raise EspeakError(f"cannot copy libespeak-ng from {source} to {self._tempdir}: {error}") from error
        self.pid = os.getpid()
        atexit.register(self._remove_copy)
        self.lock = threading.Lock()
        self.voice: str | None = None
        self._dirty = False  # True once the loaded library has synthesised something
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int, int]] = []  # (mnemonic, sample, audio_position ms)
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds the pointer
        self._libc = ctypes.CDLL(None)  # rand() drives the breath noise of some voices
        self.lib = self._load()

    def _remove_copy(self) -> None:
        if os.getpid() == self.pid:  # not in a forked child: the parent still uses the copy
            shutil.rmtree(self._tempdir, ignore_errors=True)

    def _load(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(self.library_path)
        except OSError as error:
            raise EspeakError(f"cannot load libespeak-ng from {self.library_path}: {error}") from error
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Terminate.restype = ctypes.c_int
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
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), options)
        if rate != ESPEAK_SAMPLE_RATE:
            raise EspeakError(
                f"espeak_Initialize returned {rate} (expected {ESPEAK_SAMPLE_RATE} Hz); "
                f"check the eSpeak data folder {self.data_path}"
            )
        lib.espeak_SetSynthCallback(self._callback)
        self.voice = None
        self._dirty = False
        return lib

    def _reload(self) -> None:
        """Unload and load the library again, which resets all of eSpeak's C state."""
        self.lib.espeak_Terminate()
        handle = self.lib._handle
        del self.lib
        _ctypes.dlclose(handle)
        self.lib = self._load()

    def _on_audio(self, wav, num_samples, events) -> int:  # type: ignore[no-untyped-def]
        """Collect one chunk of int16 audio and its events; called by eSpeak inside ``espeak_Synth``."""
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                mnemonic = event.id.string.decode("utf-8", errors="replace")
                self._events.append((mnemonic, event.sample, event.audio_position))
            i += 1
        return 0  # 0 = continue synthesising

    def _set_voice(self, voice: str) -> None:
        if voice == self.voice:
            return
        variant = voice.partition("+")[2]
        variants_dir = os.path.join(self.data_path, "voices", "!v")
        if variant and not os.path.isfile(os.path.join(variants_dir, variant)):
            # eSpeak would silently speak without the variant.
            raise ValueError(
                f"eSpeak has no voice variant {variant!r} (in {voice!r}); variants are the files of "
                f"{variants_dir}, e.g. m1-m8, f1-f5, klatt, klatt2-klatt6"
            )
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            self.voice = None
            raise ValueError(
                f"eSpeak has no voice {voice!r}; use a language such as 'en-us', 'en', 'en-gb-x-rp', "
                "optionally with a variant: 'en-us+f3', 'en+m3', 'en-us+klatt'"
            )
        self.voice = voice

    def speak(self, text: str, voice: str, rate: int, pitch: int, seed: int) -> tuple[np.ndarray, list]:
        """Synthesise ``text`` from a fresh library state; returns native int16 audio and raw events."""
        if self._dirty:
            self._reload()
        self._set_voice(voice)
        self.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self.lib.espeak_ng_SetRandSeed(seed)
        self._libc.srand(seed & 0xFFFFFFFF)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        buffer = ctypes.create_string_buffer(data)
        self._dirty = True
        status = self.lib.espeak_Synth(buffer, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if status != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with status {status} for text {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        events, self._chunks, self._events = self._events, [], []
        return audio, events


_engine: _Engine | None = None
_engine_guard = threading.Lock()


def _reset_lock_after_fork() -> None:
    # A lock held by another thread at fork time would stay locked forever in the child.
    if _engine is not None:
        _engine.lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _get_engine() -> _Engine:
    """The engine of this process, initialised on first use."""
    global _engine
    if _engine is None:
        with _engine_guard:
            if _engine is None:
                _engine = _Engine()
    return _engine


def espeak_version() -> str:
    """The version string of the loaded eSpeak NG library, e.g. ``'1.52.0'``."""
    engine = _get_engine()
    with engine.lock:
        return engine.lib.espeak_Info(None).decode()


def speak(text: str, voice: str, rate: int, pitch: int, seed: int) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Synthesise ``text`` from a fresh library state (see :class:`_Engine`), under the engine's lock.

    Returns:
        ``(audio, events)``: int16 mono samples at :data:`ESPEAK_SAMPLE_RATE`, and the phoneme
        events in spoken order as ``(mnemonic, sample, audio_position_ms)``, positions since the
        start of the audio.

    Raises:
        ValueError: An unknown voice or voice variant.
        EspeakError: The library could not be loaded or failed to speak.
    """
    engine = _get_engine()
    with engine.lock:
        return engine.speak(text, voice, rate, pitch, seed)
