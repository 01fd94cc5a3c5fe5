"""Articulatory features of the 39 ARPAbet phonemes: voicing, place, manner, vowel height and backness.

Profiles of a layer that has learned phonetics should place phonemes that are articulated alike
close together. :func:`articulatory_features` gives each phoneme a vector whose Euclidean
distances encode that likeness; the profiler's ``rsa`` score correlates them with the profiles'
distances. Binary and one-hot parts (vowel, voiced, manner, place) weigh 1 each; vowel height and
backness run from 0 to 1 (diphthongs at the middle of their glide). Consonants have no height or
backness, vowels no place.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["FEATURE_NAMES", "articulatory_features"]

MANNERS = ("plosive", "affricate", "fricative", "nasal", "liquid", "glide", "vowel")
PLACES = ("bilabial", "labiodental", "dental", "alveolar", "postalveolar", "palatal", "velar", "glottal")
FEATURE_NAMES = ["vowel", "voiced", *MANNERS, *PLACES, "height", "backness"]

#: Vowel: (height 0 low .. 1 high, backness 0 front .. 1 back).
_VOWELS = {
    "AA": (0.0, 1.0),
    "AE": (0.0, 0.0),
    "AH": (0.5, 0.5),
    "AO": (0.25, 1.0),
    "AW": (0.5, 0.75),
    "AY": (0.5, 0.25),
    "EH": (0.5, 0.0),
    "ER": (0.5, 0.5),
    "EY": (0.75, 0.0),
    "IH": (0.85, 0.1),
    "IY": (1.0, 0.0),
    "OW": (0.6, 1.0),
    "OY": (0.6, 0.6),
    "UH": (0.85, 0.9),
    "UW": (1.0, 1.0),
}

#: Consonant: (place, manner, voiced).
_CONSONANTS = {
    "P": ("bilabial", "plosive", 0),
    "B": ("bilabial", "plosive", 1),
    "M": ("bilabial", "nasal", 1),
    "W": ("bilabial", "glide", 1),
    "F": ("labiodental", "fricative", 0),
    "V": ("labiodental", "fricative", 1),
    "TH": ("dental", "fricative", 0),
    "DH": ("dental", "fricative", 1),
    "T": ("alveolar", "plosive", 0),
    "D": ("alveolar", "plosive", 1),
    "S": ("alveolar", "fricative", 0),
    "Z": ("alveolar", "fricative", 1),
    "N": ("alveolar", "nasal", 1),
    "L": ("alveolar", "liquid", 1),
    "R": ("postalveolar", "liquid", 1),
    "CH": ("postalveolar", "affricate", 0),
    "JH": ("postalveolar", "affricate", 1),
    "SH": ("postalveolar", "fricative", 0),
    "ZH": ("postalveolar", "fricative", 1),
    "Y": ("palatal", "glide", 1),
    "K": ("velar", "plosive", 0),
    "G": ("velar", "plosive", 1),
    "NG": ("velar", "nasal", 1),
    "HH": ("glottal", "fricative", 0),
}


def articulatory_features(phonemes: Sequence[str]) -> list[list[float]]:
    """One feature vector (:data:`FEATURE_NAMES`) per ARPAbet phoneme, in the given order.

    Raises:
        KeyError: for a name that is not one of the 39 ARPAbet phonemes (without stress digits).
    """
    rows = []
    for phoneme in phonemes:
        if phoneme in _VOWELS:
            height, backness = _VOWELS[phoneme]
            row = [1.0, 1.0, *(float(m == "vowel") for m in MANNERS), *([0.0] * len(PLACES)), height, backness]
        elif phoneme in _CONSONANTS:
            place, manner, voiced = _CONSONANTS[phoneme]
            row = [
                0.0,
                float(voiced),
                *(float(m == manner) for m in MANNERS),
                *(float(p == place) for p in PLACES),
                0.0,
                0.0,
            ]
        else:
            raise KeyError(f"{phoneme!r} is not one of the 39 ARPAbet phonemes")
        rows.append(row)
    return rows
