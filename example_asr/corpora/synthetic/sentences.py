"""Deterministic English sentences from a shipped word list, with disjoint splits.

The words (``words.txt`` beside this module) are common English words ordered from most to
least frequent. A sentence is a run of 4 to 12 words drawn with a flattened
Zipf law over that rank, so frequent words dominate without drowning the rest.

Splits never share a sentence: every sentence belongs to exactly one split,
decided by a stable hash of its text (:func:`sentence_split`), and the
generator for a split keeps only the sentences that belong to it. This holds
for any seeds and sizes, so validation and test sentences never leak into
training.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["SPLITS", "SPLIT_FRACTIONS", "load_words", "sentence_split", "generate_sentences"]

SPLITS = ("train", "validation", "test")

#: Fraction of all possible sentences that belongs to each split.
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_ZIPF_EXPONENT = 0.8  # < 1 flattens the Zipf law so content words show up often
_ZIPF_OFFSET = 10.0  # damps the very top words ("the", "to", "and")


@lru_cache(maxsize=1)
def load_words() -> tuple[str, ...]:
    """The shipped word list, most frequent first.

    Returns:
        Distinct lower-case words (letters and apostrophes).

    Raises:
        RuntimeError: The packaged file is missing or holds an invalid line.
    """
    try:
        text = resources.files("example_asr.corpora.synthetic").joinpath("words.txt").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as error:
        raise RuntimeError(
            "example_asr/corpora/synthetic/words.txt is missing; reinstall example_asr with its package data"
        ) from error
    words = tuple(line.strip() for line in text.splitlines() if line.strip())
    bad = [w for w in words if not _WORD.fullmatch(w)]
    if bad:
        raise RuntimeError(f"example_asr/corpora/synthetic/words.txt has invalid words {bad[:5]}: use [a-z'] only")
    return words


def _word_probabilities(num_words: int) -> np.ndarray:
    ranks = np.arange(num_words, dtype=np.float64)
    weights = 1.0 / (ranks + _ZIPF_OFFSET) ** _ZIPF_EXPONENT
    return weights / weights.sum()


def sentence_split(sentence: str) -> str:
    """The split a sentence belongs to, from a stable hash of its text.

    Args:
        sentence: A sentence as :func:`generate_sentences` makes it.

    Returns:
        One of :data:`SPLITS`, in the proportions of :data:`SPLIT_FRACTIONS`.
    """
    digest = hashlib.blake2b(sentence.encode("utf-8"), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2**64
    cumulative = 0.0
    for split in SPLITS:
        cumulative += SPLIT_FRACTIONS[split]
        if u < cumulative:
            return split
    return SPLITS[-1]


def generate_sentences(
    num_sentences: int,
    seed: int,
    split: str | None = None,
    min_words: int = 4,
    max_words: int = 12,
) -> list[str]:
    """Draw distinct sentences, deterministically for a seed.

    Args:
        num_sentences: How many sentences to return.
        seed: Seed of the draw; the same arguments always give the same list.
        split: Keep only sentences of this split (see :func:`sentence_split`), or
            ``None`` for any sentence.
        min_words: Fewest words in a sentence (>= 1).
        max_words: Most words in a sentence (>= ``min_words``).

    Returns:
        ``num_sentences`` distinct sentences: lower-case words joined by single spaces.

    Raises:
        ValueError: An unknown split or invalid word counts.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got min_words={min_words}, max_words={max_words}")
    if num_sentences < 0:
        raise ValueError(f"num_sentences must be >= 0, got {num_sentences}")
    words = load_words()
    probabilities = _word_probabilities(len(words))
    # Each split draws from its own stream, so splits of one seed are not correlated.
    split_index = -1 if split is None else SPLITS.index(split)
    rng = np.random.default_rng([seed, split_index + 1, 0x5E47])
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < num_sentences:
        batch = max(64, 2 * (num_sentences - len(sentences)))
        lengths = rng.integers(min_words, max_words + 1, size=batch)
        indices = rng.choice(len(words), size=int(lengths.sum()), p=probabilities)
        offset = 0
        for length in lengths:
            sentence = " ".join(words[i] for i in indices[offset : offset + length])
            offset += length
            if sentence in seen or (split is not None and sentence_split(sentence) != split):
                continue
            seen.add(sentence)
            sentences.append(sentence)
            if len(sentences) == num_sentences:
                break
    return sentences
