"""What the synthetic corpus speaks: the voices of each split and one spec per utterance.

:func:`make_specs` draws, for a split and a seed, the sentences (:mod:`example_asr.corpora.synthetic.sentences`),
voices, speaking rates, pitches and surrounding silences of every utterance. The specs are all
that the cached audio depends on (with the eSpeak version and the phoneme inventory), so their
fields are part of the cache key (:mod:`example_asr.corpora.synthetic.cache`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from example_asr.corpora.synthetic.sentences import SPLITS, generate_sentences
from example_asr.utterance import SAMPLE_RATE

__all__ = ["SPLIT_VOICES", "UtteranceSpec", "make_specs"]

#: eSpeak voices of each split: a language (``en-us`` American, ``en`` British) plus a
#: speaker variant. No variant of the validation or test voices occurs in training.
SPLIT_VOICES: dict[str, tuple[str, ...]] = {
    "train": (
        "en-us",
        "en-us+m1",
        "en-us+m3",
        "en-us+f1",
        "en-us+f3",
        "en-us+klatt3",
        "en-us+Alex",
        "en-us+linda",
        "en+m2",
        "en+m3",
        "en+f2",
        "en+benjamin",
    ),
    "validation": ("en-us+m6", "en-us+f5", "en-us+steph", "en+klatt6"),
    "test": ("en-us+m7", "en-us+f4", "en-us+travis", "en+klatt2"),
}


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
        for i, (text, v, r, p, pad) in enumerate(zip(texts, voice_ix, rates, pitches, pads, strict=True))
    ]
