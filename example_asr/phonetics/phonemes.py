"""The phoneme inventory of the synthetic corpus and the map from eSpeak's mnemonics.

eSpeak NG reports English phonemes with its own mnemonics (``'oU``, ``@2``,
``t#``, ``i@3``, ...), which differ in detail between its accents. They are
folded into the 39 ARPAbet phonemes of the CMU dictionary (and of the
LibriSpeech/MFA data, :mod:`example_asr.phonetics.arpabet`), each with a broad phonetic
category.

Folding choices, phonemic rather than phonetic:

* stress marks (``'`` primary, ``,`` secondary) and other prefixes are dropped;
* allophones go to their phoneme: the US flap ``t#`` and the glottal stop
  ``?`` (as in "certain") are ``T``; syllabic ``@L``/``n-``/``m-`` are
  ``L``/``N``/``M``; the linking glide ``;`` (as in "video") is ``Y``;
* eSpeak speaks an r-coloured vowel as one phoneme (``A@`` "car", ``O@`` "or",
  ``e@`` "air", ``i@`` "ear", ``U@`` "cure", ``aI@`` "fire", ``aU@`` "hour");
  its span is labelled with its vowel (``AA``, ``AO``, ``EH``, ``IH``, ``UH``,
  ``AY``, ``AW``) since the alignment cannot split it;
* ``3``/``3:`` are ``ER``; ``V`` and, as in the CMU dictionary (``AH0``), the
  reduced vowels ``@``, ``@2``, ``@5``, ``a#`` are ``AH``;
* pauses (``_``, ``_:``, ``_!``, ...) are silence: :func:`normalize_espeak_phoneme`
  returns ``None`` for them, as for any mnemonic it does not know.
"""

from __future__ import annotations

from example_asr.phonetics.arpabet import ARPABET_INVENTORY
from example_asr.utterance import PhonemeInventory

__all__ = ["ESPEAK_INVENTORY", "ESPEAK_TO_INVENTORY", "normalize_espeak_phoneme", "is_pause"]

#: The phonemes of :class:`~example_asr.corpora.synthetic.corpus.SyntheticSpeechCorpus`: the same 39
#: ARPAbet phonemes, categories and group order as the LibriSpeech/MFA data
#: (:data:`example_asr.phonetics.arpabet.ARPABET_INVENTORY`), so profiles of both compare.
ESPEAK_INVENTORY: PhonemeInventory = ARPABET_INVENTORY

#: eSpeak NG English mnemonic (without stress marks) -> inventory phoneme.
#: Covers every phoneme of eSpeak's ``en`` phoneme tables (all English accents).
ESPEAK_TO_INVENTORY: dict[str, str] = {
    # monophthongs
    "A:": "AA",
    "A@": "AA",
    "0": "AA",
    "02": "AA",
    "0#": "AA",
    "A~": "AA",
    "a": "AE",
    "aa": "AE",
    "A#": "AE",
    "a/": "AE",
    "V": "AH",
    "O": "AO",
    "O:": "AO",
    "O2": "AO",
    "O@": "AO",
    "o@": "AO",
    "o:": "AO",
    "O~": "AO",
    "@": "AH",
    "@2": "AH",
    "@5": "AH",
    "@-": "AH",
    "@#": "AH",
    "a#": "AH",
    "a#2": "AH",
    "a2": "AH",
    "E": "EH",
    "E2": "EH",
    "E#": "EH",
    "e": "EH",
    "e#": "EH",
    "e@": "EH",
    "3": "ER",
    "3:": "ER",
    "IR": "ER",
    "VR": "ER",
    "I": "IH",
    "I2": "IH",
    "I#": "IH",
    "I2#": "IH",
    "i@": "IH",
    "i@3": "IH",
    "i": "IY",
    "i:": "IY",
    "U": "UH",
    "U@": "UH",
    "u:": "UW",
    "u": "UW",
    # diphthongs
    "aU": "AW",
    "aU@": "AW",
    "aI": "AY",
    "aI2": "AY",
    "aI3": "AY",
    "aI@": "AY",
    "eI": "EY",
    "e:": "EY",
    "oU": "OW",
    "oU#": "OW",
    "o": "OW",
    "OI": "OY",
    # plosives (flap and glottal stop are realisations of /t/)
    "p": "P",
    "b": "B",
    "t": "T",
    "t#": "T",
    "t2": "T",
    "t[": "T",
    "?": "T",
    "d": "D",
    "d#": "D",
    "d[": "D",
    "k": "K",
    "g": "G",
    # affricates
    "tS": "CH",
    "dZ": "JH",
    # fricatives
    "f": "F",
    "v": "V",
    "T": "TH",
    "D": "DH",
    "s": "S",
    "z": "Z",
    "z#": "Z",
    "z/2": "Z",
    "S": "SH",
    "Z": "ZH",
    "h": "HH",
    "x": "HH",
    # nasals
    "m": "M",
    "m-": "M",
    "n": "N",
    "n-": "N",
    "N": "NG",
    "N-": "NG",
    # approximants
    "l": "L",
    "l/": "L",
    "l/2": "L",
    "l-": "L",
    "l#": "L",
    "@L": "L",
    "r": "R",
    "r-": "R",
    "r/": "R",
    "*": "R",
    "**": "R",
    "w": "W",
    "w#": "W",
    "j": "Y",
    ";": "Y",
}

_STRESS_MARKS = "',%=!"


def is_pause(mnemonic: str) -> bool:
    """Whether an eSpeak mnemonic is a pause (``_``, ``_:``, ``_!``, ``_|``, ...)."""
    return mnemonic.startswith("_")


def normalize_espeak_phoneme(mnemonic: str) -> str | None:
    """The inventory phoneme that an eSpeak phoneme event stands for.

    Args:
        mnemonic: The phoneme mnemonic of an eSpeak event, with or without stress
            marks, e.g. ``"'oU"``, ``",i:"``, ``"t#"``, ``"_:"``.

    Returns:
        A name of :data:`ESPEAK_INVENTORY` (``"OW"``), or ``None`` for a pause or a
        mnemonic that is not mapped (treat it as not a phoneme of the inventory).
    """
    name = mnemonic.strip()
    if not name or is_pause(name):
        return None
    if name not in ESPEAK_TO_INVENTORY:  # ';' and '?' are phonemes, so strip marks only when needed
        name = name.lstrip(_STRESS_MARKS)
    return ESPEAK_TO_INVENTORY.get(name)


def _check_table() -> None:
    names = set(ESPEAK_INVENTORY.names)
    bad = {k: v for k, v in ESPEAK_TO_INVENTORY.items() if v not in names}
    if bad:  # pragma: no cover - a programming error caught at import
        raise AssertionError(f"ESPEAK_TO_INVENTORY maps to unknown phonemes: {bad}")


_check_table()
