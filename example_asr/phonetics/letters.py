"""Which letters may spell each ARPAbet phoneme in English: what a character model's output may be at a
phoneme's frames when the profiler asks whether the model got them right (``split_by_correctness``
with ``group_classes``; docs/errors.md).

This is a lenient, hand-made table of common spellings (``K`` -> c, k, q, x; ``IY`` -> e, i, y), not a
pronunciation model: a frame labelled ``K`` counts as right when the best path there is one of those
letters. Letters that spell no sound (the ``k`` of "knee", the ``e`` of "make") and the spelling of a
phoneme by two letters (``SH`` as "sh") are not modelled beyond listing both letters.
"""

from __future__ import annotations

from collections.abc import Sequence

from example_asr.text import CharTokenizer

__all__ = ["PHONEME_LETTERS", "phoneme_group_classes"]

#: ARPAbet phoneme (stress-free) -> the letters that commonly spell it.
PHONEME_LETTERS: dict[str, str] = {
    "AA": "ao", "AE": "a", "AH": "aeiou", "AO": "aou", "AW": "ouw", "AY": "iy", "B": "b", "CH": "cht",
    "D": "d", "DH": "th", "EH": "ea", "ER": "eiru", "EY": "aeiy", "F": "fhp", "G": "g", "HH": "hw",
    "IH": "eiy", "IY": "eiy", "JH": "dgj", "K": "ckqx", "L": "l", "M": "m", "N": "n", "NG": "gn",
    "OW": "ouw", "OY": "oiy", "P": "p", "R": "r", "S": "csxz", "SH": "chst", "T": "t", "TH": "th",
    "UH": "ou", "UW": "ouw", "V": "fv", "W": "uw", "Y": "iuy", "Z": "sxz", "ZH": "gsz",
}  # fmt: skip


def phoneme_group_classes(names: Sequence[str], tokenizer: CharTokenizer | None = None) -> list[list[int]]:
    """The ``group_classes`` of phoneme groups for a character CTC model: each phoneme's letters as the
    tokenizer's output ids.

    Raises:
        KeyError: for a name that is no ARPAbet phoneme of :data:`PHONEME_LETTERS`.
    """
    tokenizer = tokenizer or CharTokenizer()
    unknown = [name for name in names if name.upper() not in PHONEME_LETTERS]
    if unknown:
        raise KeyError(f"no letters known for {unknown}; the table holds {sorted(PHONEME_LETTERS)}")
    return [tokenizer.encode(PHONEME_LETTERS[name.upper()]).tolist() for name in names]
