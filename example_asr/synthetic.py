"""A speech corpus synthesised offline with eSpeak NG, with true phoneme alignments.

Each split speaks its own sentences (:mod:`example_asr.sentences`) with its own
voices: the validation and test voices are eSpeak speaker variants never used
in training, so held-out scores measure generalisation to new speakers and new
sentences. Speaking rate and pitch vary per utterance.

The corpus is synthesised once and cached in ``root`` as one ``.npz`` file per
configuration (int16 audio and alignments), named by a hash of every parameter
that changes its content; changing any of them synthesises a new file.
Additive white noise (``snr_db``) is applied when an item is read, so it never
invalidates the cache. Everything is deterministic: the same arguments give
identical waveforms and alignments on every run and with any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from example_asr import espeak
from example_asr.phonemes import ESPEAK_INVENTORY
from example_asr.sentences import SPLITS, generate_sentences, load_words
from example_asr.utterance import SAMPLE_RATE, PhonemeInventory, Utterance

__all__ = [
    "SPLIT_VOICES",
    "UtteranceSpec",
    "make_specs",
    "SyntheticSpeechCorpus",
]

#: eSpeak voices of each split: a language (``en-us`` American, ``en`` British) plus a
#: speaker variant. No variant of the validation or test voices occurs in training.
SPLIT_VOICES: dict[str, tuple[str, ...]] = {
    "train": (
        "en-us", "en-us+m1", "en-us+m3", "en-us+f1", "en-us+f3", "en-us+klatt3",
        "en-us+Alex", "en-us+linda", "en+m2", "en+m3", "en+f2", "en+benjamin",
    ),
    "validation": ("en-us+m6", "en-us+f5", "en-us+steph", "en+klatt6"),
    "test": ("en-us+m7", "en-us+f4", "en-us+travis", "en+klatt2"),
}  # fmt: skip

_CACHE_FORMAT = 1
_CHUNK = 25  # utterances per multiprocessing task
_PCM_SCALE = 32767.0


@dataclass(frozen=True)
class UtteranceSpec:
    """What to synthesise for one utterance."""

    utterance_id: str
    text: str
    voice: str
    rate: int
    pitch: int
    pad_start: int = 0
    pad_end: int = 0


def make_specs(
    split: str,
    num_utterances: int,
    seed: int,
    voices: Sequence[str],
    rate_range: tuple[int, int],
    pitch_range: tuple[int, int],
    min_words: int = 4,
    max_words: int = 12,
    silence_range: tuple[float, float] = (0.05, 0.25),
) -> list[UtteranceSpec]:
    """The utterances of a split: sentences of that split, voices, rates, pitches, padding.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        num_utterances: How many utterances.
        seed: Seed of sentences, voices, rates and pitches.
        voices: eSpeak voice names to draw from uniformly.
        rate_range: Inclusive range of speaking rates in words per minute.
        pitch_range: Inclusive range of eSpeak base pitches (0-100).
        min_words: Fewest words per sentence.
        max_words: Most words per sentence.
        silence_range: Range in seconds of the silence added before and after the speech
            (eSpeak starts a vowel at the very first sample and stops almost at once).

    Returns:
        One spec per utterance, with ids ``"{split}-{seed}-{index:06d}"``.
    """
    texts = generate_sentences(num_utterances, seed, split=split, min_words=min_words, max_words=max_words)
    rng = np.random.default_rng([seed, SPLITS.index(split), 0xA5C])
    voice_ix = rng.integers(0, len(voices), size=num_utterances)
    rates = rng.integers(rate_range[0], rate_range[1] + 1, size=num_utterances)
    pitches = rng.integers(pitch_range[0], pitch_range[1] + 1, size=num_utterances)
    pads = np.round(rng.uniform(*silence_range, size=(num_utterances, 2)) * SAMPLE_RATE).astype(np.int64)
    return [
        UtteranceSpec(f"{split}-{seed}-{i:06d}", text, voices[v], int(r), int(p), int(pad[0]), int(pad[1]))
        for i, (text, v, r, p, pad) in enumerate(zip(texts, voice_ix, rates, pitches, pads))
    ]


def _cache_key(specs: Sequence[UtteranceSpec]) -> str:
    """Hash of everything the cached content depends on."""
    digest = hashlib.sha256()
    header = {
        "format": _CACHE_FORMAT,
        "espeak": espeak.espeak_version(),
        "inventory": ESPEAK_INVENTORY.names,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for spec in specs:
        digest.update(json.dumps(asdict(spec), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _synthesize_specs(
    specs: Sequence[UtteranceSpec], num_workers: int, mp_context: str | None, progress: bool, desc: str
) -> list[espeak.AlignedSpeech]:
    """Synthesise and align every spec, in order, optionally in a process pool."""
    requests = [(s.text, s.voice, s.rate, s.pitch) for s in specs]
    chunks = [requests[i : i + _CHUNK] for i in range(0, len(requests), _CHUNK)]
    results: list[espeak.AlignedSpeech] = []
    with tqdm(total=len(requests), desc=desc, unit="utt", disable=not progress) as bar:
        if num_workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                results.extend(espeak.synthesize_aligned_batch(chunk))
                bar.update(len(chunk))
        else:
            if mp_context is None:  # fork: fast, needs no __main__ guard; the workers only use eSpeak
                mp_context = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            context = multiprocessing.get_context(mp_context)
            with context.Pool(min(num_workers, len(chunks))) as pool:
                for chunk_result in pool.imap(espeak.synthesize_aligned_batch, chunks):
                    results.extend(chunk_result)
                    bar.update(len(chunk_result))
    return results


class SyntheticSpeechCorpus(Dataset):
    """English speech synthesised with eSpeak NG, with its true phoneme alignment.

    Items are :class:`~example_asr.utterance.Utterance` with phonemes of
    :attr:`inventory` (39 ARPAbet phonemes). Transcripts hold lower-case words and
    apostrophes. Durations are mostly 1.5-5 s.

    Args:
        root: Cache folder (created if needed).
        split: ``"train"``, ``"validation"`` or ``"test"``; the splits share no sentence
            and no voice (see :data:`SPLIT_VOICES`).
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
            ("rate_range", rate_range, espeak.RATE_RANGE),
            ("pitch_range", pitch_range, espeak.PITCH_RANGE),
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
        self.specs = make_specs(
            split, num_utterances, seed, self.voices, rate_range, pitch_range, min_words, max_words
        )
        key = _cache_key(self.specs)
        self.cache_path = self.root / f"espeak-{split}-n{num_utterances}-seed{seed}-{key}.npz"
        self._arrays: dict[str, np.ndarray] | None = self._load_or_build(num_workers, mp_context, progress)

    # ----------------------------------------------------------------- cache
    def _load_or_build(self, num_workers: int, mp_context: str | None, progress: bool) -> dict[str, np.ndarray]:
        if self.cache_path.exists():
            try:
                return self._read_cache()
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
                warnings.warn(
                    f"cannot read the synthetic speech cache {self.cache_path} ({error}); "
                    "synthesising it again",
                    RuntimeWarning,
                    stacklevel=3,
                )
        arrays = self._build(num_workers, mp_context, progress)
        self._write_cache(arrays)
        return arrays

    def _read_cache(self) -> dict[str, np.ndarray]:
        with np.load(self.cache_path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        n = len(self.specs)
        wave_offsets, phone_offsets = arrays["wave_offsets"], arrays["phoneme_offsets"]
        ok = (
            str(arrays["utterance_ids"][-1]) == self.specs[-1].utterance_id
            and len(arrays["utterance_ids"]) == n
            and wave_offsets.shape == (n + 1,)
            and phone_offsets.shape == (n + 1,)
            and wave_offsets[-1] == len(arrays["waveforms"])
            and phone_offsets[-1] == len(arrays["phoneme_ids"])
            and len(arrays["phoneme_starts"]) == len(arrays["phoneme_ends"]) == len(arrays["phoneme_ids"])
        )
        if not ok:
            raise ValueError("its arrays do not match this corpus' parameters or each other")
        return arrays

    def _build(self, num_workers: int, mp_context: str | None, progress: bool) -> dict[str, np.ndarray]:
        results = _synthesize_specs(self.specs, num_workers, mp_context, progress, f"eSpeak {self.split}")
        for result, spec in zip(results, self.specs):
            result.waveform = np.pad(result.waveform, (spec.pad_start, spec.pad_end))
            result.starts = result.starts + spec.pad_start
            result.ends = result.ends + spec.pad_start
        lengths = np.array([len(r.waveform) for r in results], dtype=np.int64)
        counts = np.array([len(r.phonemes) for r in results], dtype=np.int64)
        waveforms = np.concatenate([r.waveform for r in results])
        return {
            "waveforms": np.round(np.clip(waveforms, -1.0, 1.0) * _PCM_SCALE).astype(np.int16),
            "wave_offsets": np.concatenate([[0], np.cumsum(lengths)]),
            "phoneme_ids": np.array(
                [ESPEAK_INVENTORY.index(p) for r in results for p in r.phonemes], dtype=np.int16
            ),
            "phoneme_starts": np.concatenate([r.starts for r in results]).astype(np.int64),
            "phoneme_ends": np.concatenate([r.ends for r in results]).astype(np.int64),
            "phoneme_offsets": np.concatenate([[0], np.cumsum(counts)]),
            "utterance_ids": np.array([s.utterance_id for s in self.specs]),
        }

    def _write_cache(self, arrays: dict[str, np.ndarray]) -> None:
        """Write the cache atomically: a temporary file in ``root``, then ``os.replace``."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.cache_path.stem + ".", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, self.cache_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
            self._arrays = self._read_cache()
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
        waveform = a["waveforms"][w0:w1].astype(np.float32) / np.float32(_PCM_SCALE)
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
