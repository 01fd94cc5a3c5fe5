"""The item every speech dataset of ``example_asr`` yields, and phoneme inventories."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

SAMPLE_RATE = 16_000

#: Broad phonetic classes used as categories of phoneme groups.
PHONETIC_CATEGORIES = (
    "vowel",
    "diphthong",
    "plosive",
    "fricative",
    "affricate",
    "nasal",
    "approximant",
)


@dataclass
class Utterance:
    """One spoken sentence with its transcript and (optionally) its phoneme alignment.

    Attributes:
        utterance_id: A stable, unique name (used in error messages and caches).
        waveform: Mono float32 samples in ``[-1, 1]`` at :data:`SAMPLE_RATE`, shape ``[num_samples]``.
        transcript: Lower-case text: letters, space and apostrophe only.
        phonemes: Phoneme names of one :class:`PhonemeInventory`, in spoken order
            (empty when the dataset has no alignment).
        phoneme_starts: First sample of each phoneme, int64 ``[P]``.
        phoneme_ends: One past the last sample of each phoneme, int64 ``[P]``;
            ``starts <= ends``, spans ordered and not overlapping.
    """

    utterance_id: str
    waveform: np.ndarray
    transcript: str
    phonemes: list[str] = field(default_factory=list)
    phoneme_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    phoneme_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def has_alignment(self) -> bool:
        return len(self.phonemes) > 0


@dataclass(frozen=True)
class PhonemeInventory:
    """An ordered set of phoneme names, each with its broad phonetic category.

    The order defines the group index used for profiling (``index(name)``).
    """

    names: tuple[str, ...]
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.categories):
            raise ValueError("names and categories must have the same length")
        if len(set(self.names)) != len(self.names):
            raise ValueError("phoneme names must be unique")
        unknown = set(self.categories) - set(PHONETIC_CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; allowed: {PHONETIC_CATEGORIES}")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Group index of ``name``, or ``-1`` if it is not in the inventory (e.g. silence)."""
        return self._lookup.get(name, -1)

    def category(self, name: str) -> str:
        return self.categories[self.names.index(name)]

    @cached_property
    def _lookup(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}
