"""A small ctypes binding to eSpeak NG: speech plus its true phoneme timing.

The shared library and its data come from the PyPI package ``espeakng-loader``,
so nothing outside Python's packages is needed. eSpeak is initialised with
phoneme events on: while synthesising, it reports every phoneme it speaks
(its mnemonic such as ``'oU`` and the output sample where it starts), which
gives an exact alignment for free.

eSpeak keeps global state, so this module owns one engine per process,
initialised lazily on first use and guarded by a lock; it reloads the library
before every synthesis so that equal arguments give equal samples. It is safe
in multiprocessing workers: a spawned worker initialises its own engine, and a
forked worker keeps the parent's (synchronous mode has no threads) with a
fresh lock.

Example::

    wave, events = synthesize("hello world", voice="en-us", rate=160, pitch=50)
    # events: [("h", 192), ("@", 1004), ("l", 1794), ("'oU", 2955), ..., ("_:", 12011), ("_", 12123)]
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from example_asr.utterance import SAMPLE_RATE

__all__ = [
    "ESPEAK_SAMPLE_RATE",
    "EspeakError",
    "PITCH_RANGE",
    "RATE_RANGE",
    "AlignedSpeech",
    "align_events",
    "espeak_version",
    "synthesize",
    "synthesize_aligned",
    "synthesize_aligned_batch",
]

#: eSpeak's native output rate (Hz); :func:`synthesize` resamples to :data:`SAMPLE_RATE`.
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


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


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
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
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


def _to_16k_positions(samples: np.ndarray, positions_ms: np.ndarray, native_length: int) -> np.ndarray:
    """Event positions in 16 kHz samples, from eSpeak's ``sample`` field or, if unusable, its ms."""
    usable = (
        len(samples) > 0
        and np.all(np.diff(samples) >= 0)
        and samples[-1] <= native_length
        and np.all(np.abs(samples / ESPEAK_SAMPLE_RATE * 1000 - positions_ms) <= 2)
    )
    native = samples if usable else positions_ms * ESPEAK_SAMPLE_RATE // 1000
    ratio = Fraction(SAMPLE_RATE, ESPEAK_SAMPLE_RATE)
    return np.round(native * float(ratio)).astype(np.int64)


def synthesize(
    text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, seed: int = 0
) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Speak ``text`` with eSpeak NG and report where each phoneme starts.

    Deterministic: the same arguments give the same samples, whatever was
    synthesised before in this process.

    Args:
        text: Plain text to speak (no SSML); lower-case words work best.
        voice: An eSpeak voice name: a language (``'en-us'``, ``'en'``, ``'en-gb-x-rp'``)
            optionally with a variant (``'en-us+f3'``, ``'en+m3'``, ``'en-us+klatt'``).
        rate: Speaking rate in words per minute, 80 to 450 (eSpeak's default is 175).
        pitch: Base pitch, 0 to 100 (default 50).
        seed: Seed of eSpeak's random generator and of C ``rand()``, which drives the
            breath noise of some variants (``f3``, ...).

    Returns:
        ``(waveform, events)``: float32 mono samples in ``[-1, 1]`` at 16 kHz, and the
        phoneme events in spoken order as ``(mnemonic, start_sample)`` with the start
        in 16 kHz samples. Mnemonics are eSpeak's, with stress marks (``"'oU"``); pauses
        are mnemonics starting with ``"_"`` (a clause ends with ``"_:"`` where its speech
        stops, then ``"_"`` where the pause ends).

    Raises:
        ValueError: An unknown voice or an out-of-range rate or pitch.
        EspeakError: The library could not be loaded or failed to speak.
    """
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(f"rate={rate} words per minute is outside eSpeak's range {RATE_RANGE}")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise ValueError(f"pitch={pitch} is outside eSpeak's range {PITCH_RANGE}")
    engine = _get_engine()
    with engine.lock:
        audio, raw_events = engine.speak(text, voice, int(rate), int(pitch), int(seed))
    ratio = Fraction(SAMPLE_RATE, ESPEAK_SAMPLE_RATE)  # 320 / 441
    waveform = resample_poly(audio.astype(np.float32) / 32768.0, ratio.numerator, ratio.denominator)
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
    if not raw_events:
        return waveform, []
    samples = np.array([e[1] for e in raw_events], dtype=np.int64)
    positions_ms = np.array([e[2] for e in raw_events], dtype=np.int64)
    starts = np.minimum(_to_16k_positions(samples, positions_ms, len(audio)), len(waveform))
    return waveform, [(e[0], int(s)) for e, s in zip(raw_events, starts)]


@dataclass
class AlignedSpeech:
    """Synthesised speech with its phoneme alignment (see :func:`synthesize_aligned`).

    Attributes:
        waveform: float32 samples at 16 kHz.
        phonemes: Inventory phoneme names in spoken order.
        starts: First 16 kHz sample of each phoneme, int64.
        ends: One past the last sample of each phoneme, int64.
        unmapped: eSpeak mnemonics that were neither a pause nor mapped (dropped).
    """

    waveform: np.ndarray
    phonemes: list[str]
    starts: np.ndarray
    ends: np.ndarray
    unmapped: list[str] = field(default_factory=list)


def _silent_frames(waveform: np.ndarray, frame: int, threshold_db: float) -> np.ndarray:
    """Per frame of ``frame`` samples: True where its RMS is ``threshold_db`` below the loudest frame."""
    num_frames = -(-len(waveform) // frame)
    padded = np.zeros(num_frames * frame, dtype=np.float64)
    padded[: len(waveform)] = waveform
    rms = np.sqrt((padded.reshape(num_frames, frame) ** 2).mean(axis=1))
    loudest = rms.max() if num_frames else 0.0
    if loudest <= 0.0:
        return np.ones(num_frames, dtype=bool)
    return rms < loudest * 10.0 ** (threshold_db / 20.0)


def align_events(
    waveform: np.ndarray,
    events: Sequence[tuple[str, int]],
    normalize: Callable[[str], str | None] | None = None,
    max_silence_s: float = 0.12,
    silence_db: float = -45.0,
) -> AlignedSpeech:
    """Turn eSpeak's phoneme start events into phoneme spans.

    A phoneme lasts until the next event (phoneme or pause); the last phoneme of a
    clause therefore ends where eSpeak's ``_:`` pause starts, i.e. where the speech
    stops. Pauses and unmapped mnemonics get no span. A span that ends (or starts)
    with more than ``max_silence_s`` of silence is cut back to the sound, so that no
    phoneme swallows a pause that eSpeak did not mark; shorter silences, such as the
    closure before a plosive burst, stay in their span.

    Args:
        waveform: The 16 kHz samples the events refer to.
        events: ``(mnemonic, start_sample)`` in order, as :func:`synthesize` returns them.
        normalize: Maps a mnemonic to an inventory name or ``None`` (silence/unknown);
            defaults to :func:`example_asr.phonemes.normalize_espeak_phoneme`.
        max_silence_s: Longest silence, in seconds, left at either edge of a span.
        silence_db: Frames (10 ms) this far below the loudest frame count as silence.

    Returns:
        The alignment, with ``waveform`` as given.
    """
    if normalize is None:
        from example_asr.phonemes import normalize_espeak_phoneme as normalize
    frame = SAMPLE_RATE // 100
    silent = _silent_frames(waveform, frame, silence_db)
    sound_frames = np.flatnonzero(~silent)
    max_silence = int(round(max_silence_s * SAMPLE_RATE))
    phonemes: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    unmapped: list[str] = []
    for i, (mnemonic, start) in enumerate(events):
        end = events[i + 1][1] if i + 1 < len(events) else len(waveform)
        name = normalize(mnemonic)
        if name is None:
            if not mnemonic.startswith("_"):
                unmapped.append(mnemonic)
            continue
        start, end = max(int(start), 0), min(int(end), len(waveform))
        if end <= start:
            continue
        # Sound frames inside [start, end): trim long silent edges back to them.
        lo, hi = np.searchsorted(sound_frames, [start // frame, -(-end // frame)])
        if lo < hi:
            first_sound = int(sound_frames[lo]) * frame
            last_sound = min(int(sound_frames[hi - 1] + 1) * frame, end)
            if first_sound - start > max_silence:
                start = first_sound
            if end - last_sound > max_silence:
                end = last_sound
        phonemes.append(name)
        starts.append(start)
        ends.append(end)
    return AlignedSpeech(
        waveform=waveform,
        phonemes=phonemes,
        starts=np.asarray(starts, dtype=np.int64),
        ends=np.asarray(ends, dtype=np.int64),
        unmapped=unmapped,
    )


def synthesize_aligned(
    text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, seed: int = 0
) -> AlignedSpeech:
    """:func:`synthesize` then :func:`align_events` with the default inventory.

    Args:
        text: Plain text to speak.
        voice: eSpeak voice name, e.g. ``'en-us+f3'``.
        rate: Words per minute, 80 to 450.
        pitch: Base pitch, 0 to 100.
        seed: Seed of eSpeak's random generators (see :func:`synthesize`).

    Returns:
        The 16 kHz waveform with its phoneme spans.
    """
    waveform, events = synthesize(text, voice=voice, rate=rate, pitch=pitch, seed=seed)
    return align_events(waveform, events)


def synthesize_aligned_batch(requests: Sequence[tuple[str, str, int, int]]) -> list[AlignedSpeech]:
    """:func:`synthesize_aligned` for each ``(text, voice, rate, pitch)``; a multiprocessing task.

    It lives here, in a module without torch, so that spawned workers start fast.
    """
    return [synthesize_aligned(text, voice, rate, pitch) for text, voice, rate, pitch in requests]
