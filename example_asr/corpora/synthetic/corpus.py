"""A speech corpus synthesised offline with eSpeak NG, with true phoneme alignments.

Each split speaks its own sentences (:mod:`example_asr.corpora.synthetic.sentences`) with its own
voices: the validation and test voices are eSpeak speaker variants never used
in training, so held-out scores measure generalisation to new speakers and new
sentences. Speaking rate and pitch vary per utterance (:mod:`example_asr.corpora.synthetic.specs`).

The corpus is synthesised once and cached in ``root`` as one ``.npz`` file per
configuration (int16 audio and alignments), named by a hash of every parameter
that changes its content; changing any of them synthesises a new file
(:mod:`example_asr.corpora.synthetic.cache`). Additive white noise (``snr_db``) is applied
when an item is read, so it never invalidates the cache. Everything is deterministic:
the same arguments give identical waveforms and alignments on every run and with any
number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from example_asr.corpora.synthetic.cache import PCM_SCALE, cache_path, load_or_synthesize, read_cache
from example_asr.corpora.synthetic.espeak_binding import PITCH_RANGE, RATE_RANGE
from example_asr.corpora.synthetic.sentences import SPLITS, load_words
from example_asr.corpora.synthetic.specs import SPLIT_VOICES, make_specs
from example_asr.phonetics.phonemes import ESPEAK_INVENTORY
from example_asr.utterance import SAMPLE_RATE, PhonemeInventory, Utterance

__all__ = ["SyntheticSpeechCorpus"]


class SyntheticSpeechCorpus(Dataset):
    """English speech synthesised with eSpeak NG, with its true phoneme alignment.

    Items are :class:`~example_asr.utterance.Utterance` with phonemes of
    :attr:`inventory` (39 ARPAbet phonemes). Transcripts hold lower-case words and
    apostrophes. Durations are mostly 1.5-5 s.

    Args:
        root: Cache folder (created if needed).
        split: ``"train"``, ``"validation"`` or ``"test"``; the splits share no sentence
            and no voice (see :data:`~example_asr.corpora.synthetic.specs.SPLIT_VOICES`).
        num_utterances: Number of utterances.
        seed: Seed of sentences, voices, rates and pitches (and of the noise).
        snr_db: Additive white noise, as a signal-to-noise ratio in dB of the speech;
            ``(low, high)`` draws one SNR per utterance uniformly; ``None``: clean.
        voices: eSpeak voice names to use instead of the split's default voices.
        rate_range: Inclusive range of speaking rates in words per minute (80-450).
        pitch_range: Inclusive range of base pitches (0-100).
        min_words: Fewest words per sentence.
        max_words: Most words per sentence.
        num_workers: Processes used to synthesise a new cache (1: in this process).
        mp_context: Multiprocessing start method of the workers (``"fork"``, ``"spawn"``, ...);
            ``None``: ``"fork"`` where the platform has it, else its default.
        progress: Show a progress bar while synthesising.

    Raises:
        ValueError: An invalid argument; the message says which.
    """

    inventory: PhonemeInventory = ESPEAK_INVENTORY

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        num_utterances: int = 2000,
        seed: int = 0,
        snr_db: float | tuple[float, float] | None = None,
        voices: Sequence[str] | None = None,
        rate_range: tuple[int, int] = (130, 200),
        pitch_range: tuple[int, int] = (25, 75),
        min_words: int = 4,
        max_words: int = 12,
        num_workers: int = 2,
        mp_context: str | None = None,
        progress: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: use one of {SPLITS}")
        if num_utterances < 1:
            raise ValueError(f"num_utterances={num_utterances}: use at least 1")
        for name, (low, high), limits in (
            ("rate_range", rate_range, RATE_RANGE),
            ("pitch_range", pitch_range, PITCH_RANGE),
        ):
            if not limits[0] <= low <= high <= limits[1]:
                raise ValueError(f"{name}=({low}, {high}): use low <= high within {limits}")
        if snr_db is not None and not isinstance(snr_db, (int, float)):
            low, high = snr_db
            if low > high:
                raise ValueError(f"snr_db=({low}, {high}): use low <= high")
        self.root = Path(root)
        self.split = split
        self.seed = seed
        self.snr_db = snr_db
        self.voices = tuple(voices) if voices is not None else SPLIT_VOICES[split]
        if not self.voices:
            raise ValueError("voices is empty: give at least one eSpeak voice name such as 'en-us'")
        load_words()  # fail early on a broken package
        self.specs = make_specs(split, num_utterances, seed, self.voices, rate_range, pitch_range, min_words, max_words)
        self.cache_path = cache_path(self.root, split, seed, self.specs)
        self._arrays: dict[str, np.ndarray] | None = load_or_synthesize(
            self.cache_path, self.specs, num_workers, mp_context, progress, f"eSpeak {split}"
        )

    # ----------------------------------------------------------------- cache
    def __getstate__(self) -> dict[str, object]:
        # Pickled into spawned DataLoader workers: send the parameters, not the audio;
        # each worker reads the cache file again on first use.
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The cached arrays (concatenated int16 audio, offsets, alignments), read on demand."""
        if self._arrays is None:
            self._arrays = read_cache(self.cache_path, self.specs)
        return self._arrays

    # ----------------------------------------------------------------- items
    def __len__(self) -> int:
        return len(self.specs)

    @property
    def transcripts(self) -> list[str]:
        """The transcript of every utterance, in order."""
        return [spec.text for spec in self.specs]

    @property
    def durations(self) -> np.ndarray:
        """Duration of every utterance in seconds, float64."""
        return np.diff(self.arrays["wave_offsets"]) / SAMPLE_RATE

    def __getitem__(self, index: int) -> Utterance:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} utterances")
        index = index % len(self)
        a = self.arrays
        w0, w1 = a["wave_offsets"][index], a["wave_offsets"][index + 1]
        p0, p1 = a["phoneme_offsets"][index], a["phoneme_offsets"][index + 1]
        waveform = a["waveforms"][w0:w1].astype(np.float32) / np.float32(PCM_SCALE)
        starts = a["phoneme_starts"][p0:p1].copy()
        ends = a["phoneme_ends"][p0:p1].copy()
        if self.snr_db is not None:
            waveform = self._add_noise(waveform, index, starts, ends)
        spec = self.specs[index]
        return Utterance(
            utterance_id=spec.utterance_id,
            waveform=waveform,
            transcript=spec.text,
            phonemes=[ESPEAK_INVENTORY.names[i] for i in a["phoneme_ids"][p0:p1]],
            phoneme_starts=starts,
            phoneme_ends=ends,
        )

    def _add_noise(self, waveform: np.ndarray, index: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Add white noise at the configured SNR, deterministic per (seed, split, index)."""
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index, 0x501])
        if isinstance(self.snr_db, (int, float)):
            snr = float(self.snr_db)
        else:
            snr = float(rng.uniform(self.snr_db[0], self.snr_db[1]))
        speech = waveform[starts[0] : ends[-1]] if len(starts) else waveform
        power = float(np.mean(speech.astype(np.float64) ** 2)) if len(speech) else 0.0
        noise = rng.standard_normal(len(waveform)) * np.sqrt(power / 10.0 ** (snr / 10.0))
        return np.clip(waveform + noise, -1.0, 1.0).astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"SyntheticSpeechCorpus(split={self.split!r}, num_utterances={len(self)}, seed={self.seed}, "
            f"voices={len(self.voices)}, snr_db={self.snr_db}, cache={str(self.cache_path)!r})"
        )
