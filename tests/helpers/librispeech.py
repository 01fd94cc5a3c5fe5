"""A tiny generated corpus in LibriSpeech's layout (FLAC files, transcripts) and MFA-style TextGrids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from praatio import textgrid
from praatio.data_classes.interval_tier import IntervalTier

SUBSET = "dev-clean"

#: utterance id -> (transcript line text, file sample rate, duration in seconds)
CORPUS: dict[str, tuple[str, int, float]] = {
    "19-198-0000": ("HELLO WORLD", 16_000, 1.0),
    "19-198-0001": ("IT'S A TEST", 16_000, 0.5),
    "84-121123-0000": ("GOOD-BYE NOW", 22_050, 0.8),
    "84-121123-0001": ("YES", 8_000, 0.25),
}

#: MFA-style phone intervals (seconds) of 19-198-0000, with stress digits and silences.
HELLO_WORLD_PHONES = [
    (0.10, 0.15, "HH"),
    (0.15, 0.25, "AH0"),
    (0.25, 0.30, "L"),
    (0.30, 0.45, "OW1"),
    (0.45, 0.50, "sil"),
    (0.50, 0.60, "W"),
    (0.60, 0.70, "ER1"),
    (0.70, 0.75, "L"),
    (0.75, 0.90, "D"),
    (0.90, 1.00, "spn"),
]
YES_PHONES = [(0.0, 0.05, "sp"), (0.05, 0.10, "Y"), (0.10, 0.20, "EH1"), (0.20, 0.25, "S")]


def tone(sample_rate: int, seconds: float, frequency: float = 440.0) -> np.ndarray:
    """A 0.5-amplitude sine of ``seconds`` at ``sample_rate``."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_textgrid(path: Path, phones: list[tuple[float, float, str]], duration: float, tier: str = "phones") -> None:
    """Write a TextGrid like ``mfa align`` does: a words tier and a phones tier."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = textgrid.Textgrid()
    grid.addTier(IntervalTier("words", [(phones[0][0], phones[-1][1], "word")], 0.0, duration))
    grid.addTier(IntervalTier(tier, phones, 0.0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def write_corpus(root: Path) -> Path:
    """Write ``root/LibriSpeech/dev-clean`` from :data:`CORPUS`; return the subset folder."""
    subset_dir = root / "LibriSpeech" / SUBSET
    transcripts: dict[Path, list[str]] = {}
    for utterance_id, (text, rate, seconds) in CORPUS.items():
        speaker, chapter, _ = utterance_id.split("-")
        folder = subset_dir / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{utterance_id}.flac", tone(rate, seconds), rate)
        transcripts.setdefault(folder / f"{speaker}-{chapter}.trans.txt", []).append(f"{utterance_id} {text}")
    for path, lines in transcripts.items():
        path.write_text("\n".join(lines) + "\n")
    return subset_dir
