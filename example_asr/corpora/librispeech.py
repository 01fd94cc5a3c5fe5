"""LibriSpeech from a local folder, with optional Montreal-Forced-Aligner phoneme alignments.

Nothing is ever downloaded. The expected layout is the one of the OpenSLR archives
(https://www.openslr.org/12) extracted into ``root``::

    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

The file listing and transcripts come from :class:`torchaudio.datasets.LIBRISPEECH`;
audio is read with :mod:`soundfile` (``torchaudio.load`` would need FFmpeg/torchcodec).

Alignments are the TextGrid files written by ``mfa align`` with an ARPAbet model
(e.g. ``english_us_arpa``): one ``<utterance_id>.TextGrid`` per utterance anywhere
below ``alignments_dir`` (``<speaker>/``, ``<speaker>/<chapter>/`` or flat), with an
interval tier named ``phones`` (or ``<speaker> - phones``, as MFA names tiers of
multi-speaker files). Utterances without a TextGrid (MFA skips those it fails to
align) are kept without alignment, and one warning gives their count; their ids are
in :attr:`LibriSpeechDataset.missing_alignments`.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from praatio import textgrid
from torch.utils.data import Dataset
from torchaudio.datasets import librispeech as _ta_librispeech

from example_asr.phonetics.arpabet import ARPABET_INVENTORY, normalize_arpabet
from example_asr.utterance import SAMPLE_RATE, PhonemeInventory, Utterance

#: Subset names accepted by ``torchaudio.datasets.LIBRISPEECH``.
SUBSETS: tuple[str, ...] = tuple(_ta_librispeech._DATA_SUBSETS)

#: How far (seconds) an alignment may run past the end of its audio before it is
#: taken as belonging to another recording.
ALIGNMENT_TOLERANCE_S = 0.1

_NOT_TRANSCRIPT = re.compile(r"[^a-z' ]+")


def normalize_transcript(text: str) -> str:
    """Lower-case ``text``, keep letters ``a-z``, apostrophes and single spaces.

    Other characters (digits, hyphens, punctuation) become word breaks.

    Args:
        text: A raw transcript, e.g. ``"HE'S WELL-KNOWN"``.

    Returns:
        The normalised transcript, e.g. ``"he's well known"``.
    """
    return " ".join(_NOT_TRANSCRIPT.sub(" ", text.lower()).split())


def read_audio(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate`` with :mod:`soundfile`.

    Channels are averaged; other sample rates are resampled (band-limited sinc
    interpolation of :func:`torchaudio.functional.resample`) and clipped to ``[-1, 1]``.

    Args:
        path: Any format libsndfile reads (FLAC, WAV, OGG, ...).
        sample_rate: Rate of the returned samples in Hz.

    Returns:
        Samples, shape ``[num_samples]``.

    Raises:
        RuntimeError: The file is missing, truncated or not audio; the message names it.
    """
    try:
        data, file_rate = soundfile.read(os.fspath(path), dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile reports all failures as one opaque error
        raise RuntimeError(
            f"cannot read audio file {os.fspath(path)!r}: {str(error).rstrip('.')}. Replace the file with an "
            "intact copy (e.g. re-extract the LibriSpeech archive) or remove it from the folder."
        ) from error
    waveform = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if file_rate != sample_rate:
        samples = torch.from_numpy(np.ascontiguousarray(waveform))
        resampled = torchaudio.functional.resample(samples, file_rate, sample_rate)
        waveform = resampled.clamp_(-1.0, 1.0).numpy()
    return np.ascontiguousarray(waveform, dtype=np.float32)


def read_mfa_phones(
    path: str | os.PathLike[str], num_samples: int, sample_rate: int = SAMPLE_RATE
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read the phone tier of a Montreal-Forced-Aligner TextGrid as ARPAbet sample spans.

    Labels go through :func:`~example_asr.phonetics.arpabet.normalize_arpabet` (stress digits
    stripped, silences ``""``/``sil``/``sp``/``spn`` dropped). Times are rounded to the
    nearest sample and clipped to ``[0, num_samples]``.

    Args:
        path: The TextGrid file.
        num_samples: Length of the utterance's waveform at ``sample_rate``.
        sample_rate: Rate used to convert seconds to sample indices.

    Returns:
        ``(phonemes, starts, ends)``: :data:`ARPABET_INVENTORY` names and int64 arrays
        with the first and one-past-last sample of each phoneme.

    Raises:
        ValueError: No ``phones`` tier, a non-ARPAbet label, or phones ending more
            than :data:`ALIGNMENT_TOLERANCE_S` after the audio; the message names the file.
    """
    grid = textgrid.openTextgrid(os.fspath(path), includeEmptyIntervals=False)
    tier_names = [name for name in grid.tierNames if name == "phones" or name.endswith(" - phones")]
    if len(tier_names) != 1:
        raise ValueError(
            f"TextGrid {os.fspath(path)!r} has tiers {grid.tierNames}; expected exactly one "
            "interval tier named 'phones' (or '<speaker> - phones'), as written by 'mfa align'"
        )
    duration = num_samples / sample_rate
    phonemes: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end, label in grid.getTier(tier_names[0]).entries:
        try:
            name = normalize_arpabet(label)
        except ValueError as error:
            raise ValueError(f"in TextGrid {os.fspath(path)!r}: {error}") from None
        if name is None:
            continue
        if end > duration + ALIGNMENT_TOLERANCE_S:
            raise ValueError(
                f"TextGrid {os.fspath(path)!r} has phone {label!r} ending at {end:.3f} s but the "
                f"audio lasts {duration:.3f} s; the alignment belongs to another recording. "
                "Re-run 'mfa align' on this corpus."
            )
        phonemes.append(name)
        starts.append(min(max(round(start * sample_rate), 0), num_samples))
        ends.append(min(max(round(end * sample_rate), 0), num_samples))
    return phonemes, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _find_textgrids(alignments_dir: Path, utterance_ids: list[str]) -> dict[str, Path]:
    """Map each utterance id that has a ``<id>.TextGrid`` below ``alignments_dir`` to it."""
    if not alignments_dir.is_dir():
        raise FileNotFoundError(
            f"alignments_dir {str(alignments_dir)!r} is not a folder; pass the output folder of "
            "'mfa align' (TextGrid files named <speaker>-<chapter>-<utt>.TextGrid) or None"
        )
    wanted = set(utterance_ids)
    found: dict[str, Path] = {}
    seen_any = False
    for path in sorted(alignments_dir.rglob("*")):
        if path.suffix.lower() != ".textgrid" or not path.is_file():
            continue
        seen_any = True
        if path.stem not in wanted:
            continue
        if path.stem in found:
            raise ValueError(
                f"two TextGrids for utterance {path.stem!r}: {str(found[path.stem])!r} and {str(path)!r}; keep one"
            )
        found[path.stem] = path
    if not seen_any:
        raise FileNotFoundError(
            f"no .TextGrid files below alignments_dir {str(alignments_dir)!r}; pass the output "
            "folder of 'mfa align' or None"
        )
    return found


class LibriSpeechDataset(Dataset[Utterance]):
    """One LibriSpeech subset from a local folder, as :class:`Utterance` items.

    Items are read lazily: audio with :func:`read_audio` (resampled to 16 kHz if it is
    not), alignments with :func:`read_mfa_phones`. Items are in the order of
    ``torchaudio.datasets.LIBRISPEECH`` (sorted utterance ids).

    Args:
        root: Folder holding ``LibriSpeech/<subset>/`` (where the OpenSLR archive
            was extracted). Nothing is downloaded.
        subset: One of :data:`SUBSETS`, e.g. ``"dev-clean"``.
        alignments_dir: Optional output folder of ``mfa align`` with an ARPAbet model;
            ``<utterance_id>.TextGrid`` files are searched recursively. Utterances
            without one keep an empty alignment (one warning gives the count; ids in
            :attr:`missing_alignments`).
        folder_in_archive: Name of the top-level folder inside ``root``.

    Attributes:
        inventory: :data:`~example_asr.phonetics.arpabet.ARPABET_INVENTORY`, the phoneme names
            used in alignments.
        utterance_ids: ``"<speaker>-<chapter>-<utt>"`` of every item, in item order.
        missing_alignments: Ids without a TextGrid (empty when ``alignments_dir`` is None).

    Raises:
        ValueError: ``subset`` is not a LibriSpeech subset name.
        FileNotFoundError: The subset folder, its audio or ``alignments_dir`` is missing.
    """

    inventory: PhonemeInventory = ARPABET_INVENTORY

    def __init__(
        self,
        root: str | os.PathLike[str],
        subset: str = "train-clean-100",
        alignments_dir: str | os.PathLike[str] | None = None,
        folder_in_archive: str = "LibriSpeech",
    ) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"unknown LibriSpeech subset {subset!r}; choose one of {list(SUBSETS)}")
        self.root = Path(root)
        self.subset = subset
        self._archive = self.root / folder_in_archive
        subset_dir = self._archive / subset
        if not subset_dir.is_dir():
            raise FileNotFoundError(self._missing_message(subset_dir, folder_in_archive))
        self._librispeech = torchaudio.datasets.LIBRISPEECH(
            self.root, url=subset, folder_in_archive=folder_in_archive, download=False
        )
        # ``_walker`` holds the sorted file stems, i.e. the utterance ids (no file is opened).
        self.utterance_ids: list[str] = list(self._librispeech._walker)
        if not self.utterance_ids:
            raise FileNotFoundError(
                f"no audio found in {str(subset_dir)!r}: expected files "
                "<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac with "
                "<speaker>-<chapter>.trans.txt beside them"
            )
        self._textgrids: dict[str, Path] = {}
        self.missing_alignments: tuple[str, ...] = ()
        self.alignments_dir = None if alignments_dir is None else Path(alignments_dir)
        if self.alignments_dir is not None:
            self._textgrids = _find_textgrids(self.alignments_dir, self.utterance_ids)
            self.missing_alignments = tuple(i for i in self.utterance_ids if i not in self._textgrids)
            if self.missing_alignments:
                shown = ", ".join(self.missing_alignments[:5])
                more = ", ..." if len(self.missing_alignments) > 5 else ""
                warnings.warn(
                    f"{len(self.missing_alignments)} of {len(self.utterance_ids)} utterances of "
                    f"{subset} have no TextGrid below {str(self.alignments_dir)!r} ({shown}{more}); "
                    "they are loaded without phoneme alignment",
                    stacklevel=2,
                )

    def __len__(self) -> int:
        return len(self.utterance_ids)

    def __getitem__(self, index: int) -> Utterance:
        """Load item ``index``: audio at 16 kHz, normalised transcript, alignment if any."""
        utterance_id = self.utterance_ids[index]
        speaker, chapter, _ = utterance_id.split("-")
        try:
            relative_path, _, transcript, *_ = self._librispeech.get_metadata(index)
        except FileNotFoundError as error:
            trans = self._archive / self.subset / speaker / chapter / f"{speaker}-{chapter}.trans.txt"
            raise FileNotFoundError(
                f"no transcript for {utterance_id}: expected a line '{utterance_id} TEXT' in {str(trans)!r} ({error})"
            ) from error
        waveform = read_audio(self._archive / relative_path)
        item = Utterance(utterance_id, waveform, normalize_transcript(transcript))
        textgrid_path = self._textgrids.get(utterance_id)
        if textgrid_path is not None:
            phones = read_mfa_phones(textgrid_path, len(waveform))
            item.phonemes, item.phoneme_starts, item.phoneme_ends = phones
        return item

    def _missing_message(self, subset_dir: Path, folder_in_archive: str) -> str:
        """Explain where the subset was looked for and how to provide it."""
        hint = ""
        if (self.root / self.subset).is_dir():
            hint = (
                f" {str(self.root / self.subset)!r} exists: pass root={str(self.root.parent)!r} "
                f"(the folder that contains {self.root.name!r})."
            )
        return (
            f"LibriSpeech subset {self.subset!r} not found: expected the folder {str(subset_dir)!r} "
            f"with <speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac and "
            f"<speaker>-<chapter>.trans.txt files. Nothing is downloaded: get "
            f"{self.subset}.tar.gz from https://www.openslr.org/12 and extract it in "
            f"{str(self.root)!r} (it creates {folder_in_archive}/{self.subset}/).{hint}"
        )
