"""configs/librispeech.yaml end to end: one YAML profiles phonemes (MFA TextGrids) or characters.

A tiny corpus in LibriSpeech's real layout is written from the offline eSpeak speech, whose true
phoneme timings become MFA-style TextGrids (a ``words`` and a ``phones`` tier, stress digits,
``sil``/``spn``). ``fit`` runs through the CLI as a subprocess, with the config as written plus
CPU and tiny-size overrides, once with ``alignments_dir`` and once without. The input convolution
does not stride here, so every layer's frame counts are the input frames' and can be counted
exactly from the TextGrids.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from praatio import textgrid
from praatio.data_classes.interval_tier import IntervalTier

from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
from example_asr.phonetics.arpabet import ARPABET_INVENTORY
from example_asr.text import CharTokenizer
from example_asr.utterance import SAMPLE_RATE, Utterance
from lightning_gradnap import Profiles
from tests.helpers.processes import run_in_own_group

HOP = 160  # the data module's frame shift (10 ms)
SPEAKERS = (("1272", "128104"), ("2277", "149896"))
BATCH_SIZE, PROFILED_BATCHES = 2, 2  # of 6 validation utterances, the first 4 are profiled
VOWEL_CATEGORIES = {"vowel", "diphthong"}

TINY = [
    "--trainer.accelerator",
    "cpu",
    "--trainer.devices",
    "1",
    "--trainer.precision",
    "32",
    "--trainer.max_epochs",
    "1",
    "--trainer.limit_train_batches",
    "1",
    "--trainer.num_sanity_val_steps",
    "0",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_checkpointing",
    "false",
    "--model.channels",
    "8",
    "--model.num_layers",
    "1",
    "--model.wide_channels",
    "8",
    "--model.input_stride",
    "1",
    "--model.input_kernel",
    "11",
    "--model.wide_kernel",
    "7",
    "--model.schedule",
    "constant",
    "--data.init_args.batch_size",
    str(BATCH_SIZE),
    "--data.init_args.num_workers",
    "0",
    "--trainer.callbacks.init_args.max_batches",
    str(PROFILED_BATCHES),
    "--trainer.callbacks.init_args.views",
    "[scalars]",
]


def write_mfa_textgrid(path: Path, utterance: Utterance) -> None:
    """The TextGrid ``mfa align`` would write: stress digits on vowels, ``sil`` in gaps, the last
    phone as ``spn`` (an unknown word). Word times are spread evenly (the reader ignores them)."""
    seconds = lambda sample: float(sample) / SAMPLE_RATE  # noqa: E731
    duration = seconds(len(utterance.waveform))
    phones, cursor = [], 0
    spans = list(zip(utterance.phonemes, utterance.phoneme_starts, utterance.phoneme_ends, strict=True))
    for index, (name, start, end) in enumerate(spans):
        if end <= start:
            continue
        if start > cursor:
            phones.append((seconds(cursor), seconds(start), "sil"))
        stress = str(index % 3) if ARPABET_INVENTORY.category(name) in VOWEL_CATEGORIES else ""
        phones.append((seconds(start), seconds(end), "spn" if index == len(spans) - 1 else name + stress))
        cursor = end
    words = utterance.transcript.split()
    speech = [phone for phone in phones if phone[2] != "sil"]
    edges = np.linspace(speech[0][0], speech[-1][1], len(words) + 1)
    grid = textgrid.Textgrid()
    grid.addTier(IntervalTier("words", list(zip(edges[:-1], edges[1:], words, strict=True)), 0.0, duration))
    grid.addTier(IntervalTier("phones", phones, 0.0, duration))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def write_subset(root: Path, subset: str, corpus: SyntheticSpeechCorpus) -> dict[str, str]:
    """``<root>/LibriSpeech/<subset>/<speaker>/<chapter>/`` FLAC + transcripts, and TextGrids under
    ``<root>/mfa/<subset>/<speaker>/``; returns utterance id -> transcript."""
    transcripts: dict[str, str] = {}
    for index in range(len(corpus)):
        utterance = corpus[index]
        speaker, chapter = SPEAKERS[index % len(SPEAKERS)]
        utterance_id = f"{speaker}-{chapter}-{index:04d}"
        folder = root / "LibriSpeech" / subset / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{utterance_id}.flac", utterance.waveform, SAMPLE_RATE, subtype="PCM_16")
        with open(folder / f"{speaker}-{chapter}.trans.txt", "a") as trans:
            trans.write(f"{utterance_id} {utterance.transcript.upper()}\n")
        write_mfa_textgrid(root / "mfa" / subset / speaker / f"{utterance_id}.TextGrid", utterance)
        transcripts[utterance_id] = utterance.transcript
    return transcripts


def textgrid_frame_counts(root: Path, utterance_ids: list[str]) -> np.ndarray:
    """Frames per ARPAbet phoneme: frame ``i`` (centred on sample ``i * HOP``) belongs to a phone
    whose span, rounded to the nearest sample, holds that centre; silence and ``spn`` count not."""
    counts = np.zeros(len(ARPABET_INVENTORY), dtype=np.int64)
    for utterance_id in utterance_ids:
        speaker, chapter, _ = utterance_id.split("-")
        num_samples = soundfile.info(
            str(root / "LibriSpeech" / "dev-clean" / speaker / chapter / f"{utterance_id}.flac")
        ).frames
        centres = np.arange(num_samples // HOP + 1) * HOP
        grid = textgrid.openTextgrid(str(root / "mfa" / "dev-clean" / speaker / f"{utterance_id}.TextGrid"), False)
        for start, end, label in grid.getTier("phones").entries:
            if label in ("sil", "spn"):
                continue
            inside = (centres >= round(start * SAMPLE_RATE)) & (centres < round(end * SAMPLE_RATE))
            counts[ARPABET_INVENTORY.index(label.rstrip("012"))] += int(inside.sum())
    return counts


def run_fit(out: Path, data_root: Path, *extra: str) -> Profiles:
    args = [
        sys.executable,
        "-m",
        "example_asr",
        "fit",
        "--config",
        "configs/librispeech.yaml",
        *TINY,
        "--data.init_args.root",
        str(data_root),
        "--trainer.default_root_dir",
        str(out),
        "--trainer.logger.init_args.save_dir",
        str(out),
        *extra,
    ]
    returncode, output = run_in_own_group(args, timeout=180)
    assert returncode == 0, output[-3000:]
    files = sorted(out.glob("tensorboard/version_*/profiles/*.npz"))
    assert len(files) == 2, output[-3000:]  # the untrained network's and the epoch's
    return Profiles.load(files[-1])


@pytest.fixture(scope="module")
def librispeech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict[str, str]]:
    """``(root, profiled utterance ids, transcripts)`` of a 2-speaker LibriSpeech-layout corpus."""
    root = tmp_path_factory.mktemp("librispeech")
    speech = {"train-clean-100": ("train", 2), "dev-clean": ("validation", 6)}
    transcripts: dict[str, str] = {}
    for subset, (split, size) in speech.items():
        corpus = SyntheticSpeechCorpus(
            root / "espeak", split, size, snr_db=None, min_words=2, max_words=4, num_workers=1, progress=False
        )
        transcripts = write_subset(root, subset, corpus)  # the validation subset's, last
    profiled = sorted(transcripts)[: BATCH_SIZE * PROFILED_BATCHES]  # the loader keeps sorted id order
    return root, profiled, transcripts


def test_textgrids_give_phoneme_profiles_with_their_frame_counts(librispeech, tmp_path: Path) -> None:
    root, profiled, _ = librispeech
    profiles = run_fit(tmp_path, root, "--data.init_args.alignments_dir", str(root / "mfa"))
    assert profiles.group_names == list(ARPABET_INVENTORY.names)
    assert profiles.group_categories == list(ARPABET_INVENTORY.categories)
    expected = textgrid_frame_counts(root, profiled)
    assert (expected > 0).sum() >= 10
    for layer in profiles.layer_names:
        np.testing.assert_array_equal(profiles[layer].counts, expected, err_msg=layer)


def test_without_textgrids_the_same_yaml_profiles_forced_characters(librispeech, tmp_path: Path) -> None:
    root, profiled, transcripts = librispeech
    profiles = run_fit(tmp_path, root)
    tokenizer = CharTokenizer()
    assert profiles.group_names == tokenizer.group_names
    assert profiles.group_categories == tokenizer.group_categories
    # CTC forced alignment gives every character of a transcript at least one frame, and nothing else.
    spoken = {"␣" if char == " " else char for utterance_id in profiled for char in transcripts[utterance_id]}
    for layer in profiles.layer_names:
        present = {name for name, count in zip(profiles.group_names, profiles[layer].counts, strict=True) if count > 0}
        assert present == spoken, layer
