"""Tests of the local LibriSpeech dataset and the ARPAbet inventory, on a tiny generated corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from example_asr.corpora.librispeech import LibriSpeechDataset, normalize_transcript, read_mfa_phones
from example_asr.phonetics.arpabet import ARPABET_INVENTORY, normalize_arpabet
from example_asr.utterance import PHONETIC_CATEGORIES, SAMPLE_RATE
from tests.helpers.librispeech import CORPUS, HELLO_WORLD_PHONES, SUBSET, YES_PHONES, tone, write_corpus, write_textgrid


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(root, alignments_dir)``: 2 speakers, 4 utterances; 19-198-0001 has no TextGrid."""
    root = tmp_path_factory.mktemp("libri")
    write_corpus(root)
    alignments = root / "mfa_out"
    write_textgrid(alignments / "19" / "19-198-0000.TextGrid", HELLO_WORLD_PHONES, 1.0)  # per-speaker
    write_textgrid(alignments / "84-121123-0001.TextGrid", YES_PHONES, 0.25)  # flat
    write_textgrid(alignments / "84" / "121123" / "84-121123-0000.TextGrid", [(0.1, 0.3, "G")], 0.8)
    return root, alignments


def test_inventory_has_39_categorised_arpabet_phonemes() -> None:
    assert len(ARPABET_INVENTORY) == 39
    assert set(ARPABET_INVENTORY.categories) == set(PHONETIC_CATEGORIES)
    assert ARPABET_INVENTORY.category("AY") == "diphthong"
    assert ARPABET_INVENTORY.category("JH") == "affricate"
    assert ARPABET_INVENTORY.category("NG") == "nasal"
    assert ARPABET_INVENTORY.category("ER") == "vowel"


def test_normalize_arpabet_strips_stress_and_drops_silence() -> None:
    assert normalize_arpabet("AH0") == "AH"
    assert normalize_arpabet("iy1") == "IY"
    assert normalize_arpabet("ZH") == "ZH"
    for silence in ("", " ", "sil", "SIL", "sp", "spn"):
        assert normalize_arpabet(silence) is None
    with pytest.raises(ValueError, match="english_us_arpa"):
        normalize_arpabet("ə")


def test_normalize_transcript() -> None:
    assert normalize_transcript("HE'S WELL-KNOWN, 2 TIMES!") == "he's well known times"


def test_items_have_transcript_waveform_and_ids(corpus: tuple[Path, Path]) -> None:
    root, _ = corpus
    dataset = LibriSpeechDataset(root, SUBSET)
    assert dataset.inventory is ARPABET_INVENTORY
    assert dataset.utterance_ids == sorted(CORPUS)
    assert len(dataset) == 4
    item = dataset[0]
    assert item.utterance_id == "19-198-0000"
    assert item.transcript == "hello world"
    assert item.waveform.dtype == np.float32 and item.waveform.shape == (SAMPLE_RATE,)
    np.testing.assert_allclose(item.waveform, tone(SAMPLE_RATE, 1.0), atol=1e-4)  # FLAC is 16-bit
    assert not item.has_alignment
    assert dataset[1].transcript == "it's a test"
    assert dataset[2].transcript == "good bye now"


@pytest.mark.parametrize("index, seconds", [(2, 0.8), (3, 0.25)])  # 22.05 kHz and 8 kHz files
def test_other_sample_rates_are_resampled_to_16k(corpus: tuple[Path, Path], index: int, seconds: float) -> None:
    item = LibriSpeechDataset(corpus[0], SUBSET)[index]
    assert item.waveform.dtype == np.float32
    assert item.waveform.shape == (round(seconds * SAMPLE_RATE),)
    spectrum = np.abs(np.fft.rfft(item.waveform))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(item.waveform)
    assert abs(peak_hz - 440.0) <= SAMPLE_RATE / len(item.waveform)
    assert np.max(np.abs(item.waveform)) <= 1.0


def test_alignments_become_arpabet_sample_spans(corpus: tuple[Path, Path]) -> None:
    root, alignments = corpus
    with pytest.warns(UserWarning, match=r"1 of 4 utterances .*19-198-0001"):
        dataset = LibriSpeechDataset(root, SUBSET, alignments_dir=alignments)
    assert dataset.missing_alignments == ("19-198-0001",)
    assert not dataset[1].has_alignment

    item = dataset[0]
    kept = [(s, e, label) for s, e, label in HELLO_WORLD_PHONES if label not in ("sil", "spn")]
    assert item.phonemes == ["HH", "AH", "L", "OW", "W", "ER", "L", "D"]
    assert all(ARPABET_INVENTORY.index(p) >= 0 for p in item.phonemes)
    assert item.phoneme_starts.dtype == np.int64 and item.phoneme_ends.dtype == np.int64
    np.testing.assert_array_equal(item.phoneme_starts, [round(s * SAMPLE_RATE) for s, _, _ in kept])
    np.testing.assert_array_equal(item.phoneme_ends, [round(e * SAMPLE_RATE) for _, e, _ in kept])
    assert item.phoneme_starts[0] == 1600 and item.phoneme_ends[-1] == 14400

    yes = dataset[3]  # flat layout, 8 kHz audio: spans are in 16 kHz samples
    assert yes.phonemes == ["Y", "EH", "S"]
    np.testing.assert_array_equal(yes.phoneme_starts, [800, 1600, 3200])
    np.testing.assert_array_equal(yes.phoneme_ends, [1600, 3200, 4000])
    assert dataset[2].phonemes == ["G"]  # <speaker>/<chapter>/ layout


def test_mfa_speaker_tier_name_and_mismatched_alignment(tmp_path: Path) -> None:
    path = tmp_path / "a.TextGrid"
    write_textgrid(path, [(0.0, 0.5, "AA1")], 0.5, tier="19 - phones")
    phonemes, starts, ends = read_mfa_phones(path, num_samples=8000)
    assert phonemes == ["AA"] and starts.tolist() == [0] and ends.tolist() == [8000]
    with pytest.raises(ValueError, match="a.TextGrid.*another recording"):
        read_mfa_phones(path, num_samples=4000)  # audio of 0.25 s


def test_missing_folder_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"LibriSpeech[/\\]dev-clean.*Nothing is downloaded"):
        LibriSpeechDataset(tmp_path / "nowhere", SUBSET)
    write_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="test-other.*openslr"):
        LibriSpeechDataset(tmp_path, "test-other")
    with pytest.raises(FileNotFoundError, match="pass root="):  # root is the LibriSpeech folder itself
        LibriSpeechDataset(tmp_path / "LibriSpeech", SUBSET)
    with pytest.raises(ValueError, match="unknown LibriSpeech subset"):
        LibriSpeechDataset(tmp_path, "dev-clean-2")
    with pytest.raises(FileNotFoundError, match="alignments_dir"):
        LibriSpeechDataset(tmp_path, SUBSET, alignments_dir=tmp_path / "no_alignments")


def test_corrupt_flac_error_names_the_file(tmp_path: Path) -> None:
    subset_dir = write_corpus(tmp_path)
    corrupt = subset_dir / "19" / "198" / "19-198-0001.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    dataset = LibriSpeechDataset(tmp_path, SUBSET)
    assert dataset[0].transcript == "hello world"  # other files still load
    with pytest.raises(RuntimeError, match="19-198-0001.flac"):
        dataset[1]
