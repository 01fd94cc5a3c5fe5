"""The ARPAbet phoneme inventory of Montreal Forced Aligner's English (US ARPA) models.

MFA's ``english_us_arpa`` acoustic model and the CMU pronouncing dictionary label
phones with 39 ARPAbet symbols; vowels carry a lexical-stress digit (``AH0``, ``IY1``,
``ER2``). :func:`normalize_arpabet` strips that digit and maps the silence / unknown
speech markers MFA writes (``""``, ``sil``, ``sp``, ``spn``) to ``None``, so an aligned
phone becomes a name of :data:`ARPABET_INVENTORY` or is dropped.
"""

from __future__ import annotations

import re

from example_asr.utterance import PhonemeInventory

#: ``(name, category)`` pairs, in the order that defines the group index.
_ARPABET: tuple[tuple[str, str], ...] = (
    ("AA", "vowel"),  # odd
    ("AE", "vowel"),  # at
    ("AH", "vowel"),  # hut
    ("AO", "vowel"),  # ought
    ("AW", "diphthong"),  # cow
    ("AY", "diphthong"),  # hide
    ("B", "plosive"),
    ("CH", "affricate"),
    ("D", "plosive"),
    ("DH", "fricative"),  # thee
    ("EH", "vowel"),  # ed
    ("ER", "vowel"),  # hurt
    ("EY", "diphthong"),  # ate
    ("F", "fricative"),
    ("G", "plosive"),
    ("HH", "fricative"),
    ("IH", "vowel"),  # it
    ("IY", "vowel"),  # eat
    ("JH", "affricate"),
    ("K", "plosive"),
    ("L", "approximant"),
    ("M", "nasal"),
    ("N", "nasal"),
    ("NG", "nasal"),
    ("OW", "diphthong"),  # oat
    ("OY", "diphthong"),  # toy
    ("P", "plosive"),
    ("R", "approximant"),
    ("S", "fricative"),
    ("SH", "fricative"),
    ("T", "plosive"),
    ("TH", "fricative"),  # theta
    ("UH", "vowel"),  # hood
    ("UW", "vowel"),  # two
    ("V", "fricative"),
    ("W", "approximant"),
    ("Y", "approximant"),
    ("Z", "fricative"),
    ("ZH", "fricative"),  # seizure
)

#: The 39 ARPAbet phonemes (stress-free) with their broad phonetic categories.
ARPABET_INVENTORY = PhonemeInventory(
    names=tuple(name for name, _ in _ARPABET),
    categories=tuple(category for _, category in _ARPABET),
)

#: Labels (compared case-insensitively) that mark silence, pauses or unknown speech.
SILENCE_LABELS: frozenset[str] = frozenset({"", "sil", "sp", "spn", "<eps>"})

_STRESS_DIGITS = re.compile(r"[0-9]+$")


def normalize_arpabet(label: str) -> str | None:
    """Map an aligner / dictionary phone label to an :data:`ARPABET_INVENTORY` name.

    Surrounding whitespace is ignored, letters are upper-cased and the trailing
    stress digit is removed (``"ah0"`` and ``"AH1"`` both give ``"AH"``).

    Args:
        label: A phone label, e.g. from the ``phones`` tier of an MFA TextGrid.

    Returns:
        The inventory name, or ``None`` for silence markers (``""``, ``sil``, ``sp``,
        ``spn``, ``<eps>``), which carry no phoneme.

    Raises:
        ValueError: ``label`` is neither silence nor an ARPAbet phoneme, e.g. an IPA
            symbol from MFA's ``english_mfa`` model: align with ``english_us_arpa``.
    """
    text = label.strip()
    if text.lower() in SILENCE_LABELS:
        return None
    name = _STRESS_DIGITS.sub("", text.upper())
    if ARPABET_INVENTORY.index(name) < 0:
        raise ValueError(
            f"phone label {label!r} is not one of the 39 ARPAbet phonemes "
            f"{', '.join(ARPABET_INVENTORY.names)} (with optional stress digit) nor a silence "
            f"marker {sorted(SILENCE_LABELS)}; align with an ARPAbet model such as MFA's "
            "'english_us_arpa' (the 'english_mfa' model uses IPA phones)"
        )
    return name
