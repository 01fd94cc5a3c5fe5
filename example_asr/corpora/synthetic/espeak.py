"""Speech synthesised by eSpeak NG, with its true phoneme timing and phoneme spans.

Built on the ctypes binding :mod:`example_asr.corpora.synthetic.espeak_binding`: :func:`synthesize` resamples
eSpeak's audio to 16 kHz and reports where each phoneme starts; :func:`align_events` turns
those starts into phoneme spans of the inventory (:class:`AlignedSpeech`).

Example::

    wave, events = synthesize("hello world", voice="en-us", rate=160, pitch=50)
    # events: [("h", 192), ("@", 1004), ("l", 1794), ("'oU", 2955), ..., ("_:", 12011), ("_", 12123)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from example_asr.corpora.synthetic.espeak_binding import ESPEAK_SAMPLE_RATE, PITCH_RANGE, RATE_RANGE, speak
from example_asr.utterance import SAMPLE_RATE

__all__ = [
    "AlignedSpeech",
    "align_events",
    "synthesize",
    "synthesize_aligned",
    "synthesize_aligned_batch",
]


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
        ~example_asr.corpora.synthetic.espeak_binding.EspeakError: The library could not be loaded or failed to speak.
    """
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(f"rate={rate} words per minute is outside eSpeak's range {RATE_RANGE}")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise ValueError(f"pitch={pitch} is outside eSpeak's range {PITCH_RANGE}")
    audio, raw_events = speak(text, voice, int(rate), int(pitch), int(seed))
    ratio = Fraction(SAMPLE_RATE, ESPEAK_SAMPLE_RATE)  # 320 / 441
    waveform = resample_poly(audio.astype(np.float32) / 32768.0, ratio.numerator, ratio.denominator)
    waveform = np.clip(waveform, -1.0, 1.0).astype(np.float32)
    if not raw_events:
        return waveform, []
    samples = np.array([e[1] for e in raw_events], dtype=np.int64)
    positions_ms = np.array([e[2] for e in raw_events], dtype=np.int64)
    starts = np.minimum(_to_16k_positions(samples, positions_ms, len(audio)), len(waveform))
    return waveform, [(e[0], int(s)) for e, s in zip(raw_events, starts, strict=True)]


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
            defaults to :func:`example_asr.phonetics.phonemes.normalize_espeak_phoneme`.
        max_silence_s: Longest silence, in seconds, left at either edge of a span.
        silence_db: Frames (10 ms) this far below the loudest frame count as silence.

    Returns:
        The alignment, with ``waveform`` as given.
    """
    if normalize is None:
        from example_asr.phonetics.phonemes import normalize_espeak_phoneme as normalize
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
