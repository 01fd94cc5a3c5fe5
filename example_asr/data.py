"""Data modules: utterances -> log-mel features, character targets and phoneme frame labels.

A batch is a dict:

==================  ===========================================================
``features``        float32 ``[B, n_mels, T]`` log-mel, normalised, zero-padded
``feature_lengths`` int64 ``[B]`` valid frames
``targets``         int64 ``[B, S]`` character ids (0 = blank/padding)
``target_lengths``  int64 ``[B]``
``phoneme_labels``  int64 ``[B, T]`` phoneme group per frame, ``-1`` = silence,
                    padding or no alignment (the profiler's default labels);
                    absent when the data has no alignments at all
``transcripts``     list of ``B`` strings
``utterance_ids``   list of ``B`` strings
==================  ===========================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from example_asr.corpora.librispeech import LibriSpeechDataset
from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
from example_asr.features import LogMelFrontend, phoneme_frame_labels
from example_asr.phonetics.articulatory import articulatory_features
from example_asr.text import CharTokenizer
from example_asr.utterance import PhonemeInventory, Utterance

__all__ = [
    "FeatureDataset",
    "LengthBucketSampler",
    "LibriSpeechData",
    "SpeechDataModule",
    "SyntheticSpeechData",
    "collate",
]


class FeatureDataset(Dataset):
    """Wraps a dataset of :class:`Utterance` and returns one batch item (a dict) per utterance.

    Args:
        utterances: The dataset.
        frontend: Computes features.
        inventory: Phoneme groups for the frame labels.
        cache: Keep computed items in memory (for small corpora read many times).
        phoneme_labels: Give items ``phoneme_labels`` (``False`` for data without alignments).
    """

    def __init__(
        self,
        utterances: Dataset,
        frontend: LogMelFrontend,
        inventory: PhonemeInventory,
        cache: bool = False,
        phoneme_labels: bool = True,
    ) -> None:
        self.utterances = utterances
        self.phoneme_labels = phoneme_labels
        self.frontend = frontend
        self.group_of = {name: i for i, name in enumerate(inventory.names)}
        self.tokenizer = CharTokenizer()
        self._cache: dict[int, dict[str, Any]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.utterances)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        item = self._make_item(self.utterances[index])
        if self._cache is not None:
            self._cache[index] = item
        return item

    def _make_item(self, utterance: Utterance) -> dict[str, Any]:
        features = self.frontend(torch.from_numpy(utterance.waveform))
        item = {
            "features": features,
            "targets": self.tokenizer.encode(utterance.transcript),
            "transcript": utterance.transcript,
            "utterance_id": utterance.utterance_id,
        }
        if self.phoneme_labels:
            labels = phoneme_frame_labels(utterance, features.shape[1], self.frontend.hop_length, self.group_of)
            item["phoneme_labels"] = torch.from_numpy(labels)
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of :class:`FeatureDataset` items into a batch (see the module docstring)."""
    features = pad_sequence([item["features"].T for item in items], batch_first=True).transpose(1, 2)
    batch = {
        "features": features.contiguous(),
        "feature_lengths": torch.tensor([item["features"].shape[1] for item in items]),
        "targets": pad_sequence([item["targets"] for item in items], batch_first=True),
        "target_lengths": torch.tensor([len(item["targets"]) for item in items]),
        "transcripts": [item["transcript"] for item in items],
        "utterance_ids": [item["utterance_id"] for item in items],
    }
    if "phoneme_labels" in items[0]:
        labels = [item["phoneme_labels"] for item in items]
        batch["phoneme_labels"] = pad_sequence(labels, batch_first=True, padding_value=-1)
    return batch


class LengthBucketSampler(Sampler[int]):
    """Shuffled indices in which neighbours have similar lengths, so batches carry little padding.

    Each epoch: shuffle, cut into chunks of ``batch_size * bucket_batches``, sort each chunk by
    length, cut into batches, and shuffle the batches.
    """

    def __init__(self, lengths: Sequence[float], batch_size: int, seed: int = 0, bucket_batches: int = 50) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = rng.permutation(len(self.lengths))
        chunk = self.batch_size * self.bucket_batches
        sorted_chunks = [
            c[np.argsort(self.lengths[c], kind="stable")] for c in np.split(order, range(chunk, len(order), chunk))
        ]
        flat = np.concatenate(sorted_chunks)
        batches = np.split(flat, range(self.batch_size, len(flat), self.batch_size))
        for i in rng.permutation(len(batches)):
            yield from batches[i].tolist()


class SpeechDataModule(L.LightningDataModule):
    """Shared machinery: features, labels, loaders. Subclasses say where utterances come from.

    Args:
        n_mels: Log-mel bands (the model's ``n_features``).
        batch_size: Utterances per batch.
        num_workers: DataLoader worker processes.
    """

    inventory: PhonemeInventory
    #: Batches carry ``phoneme_labels``; if not, the groups are characters (CTC forced alignment).
    has_phoneme_labels: bool = True

    def __init__(self, n_mels: int = 40, batch_size: int = 16, num_workers: int = 0) -> None:
        super().__init__()
        self.frontend = LogMelFrontend(n_mels)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, FeatureDataset] = {}
        self.train_lengths: np.ndarray | None = None

    # what the profiler reads
    @property
    def group_names(self) -> list[str]:
        """Phoneme names in group order; characters (space ``"␣"``) when there are no phoneme labels."""
        return list(self.inventory.names) if self.has_phoneme_labels else CharTokenizer().group_names

    @property
    def group_categories(self) -> list[str]:
        """Phonetic category of each phoneme group, or letter category of each character group."""
        return list(self.inventory.categories) if self.has_phoneme_labels else CharTokenizer().group_categories

    @property
    def group_features(self) -> list[list[float]] | None:
        """Articulatory features of each phoneme group (:mod:`example_asr.phonetics.articulatory`);
        none for characters."""
        return articulatory_features(self.inventory.names) if self.has_phoneme_labels else None

    def _loader(self, split: str, train: bool = False) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"no {split!r} data: call setup() first (the Trainer does this)")
        sampler = None
        if train and self.train_lengths is not None:
            sampler = LengthBucketSampler(self.train_lengths, self.batch_size)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


class SyntheticSpeechData(SpeechDataModule):
    """The offline eSpeak NG corpus (:class:`~example_asr.corpora.synthetic.corpus.SyntheticSpeechCorpus`).

    Held-out splits use voices and sentences not in training. Synthesised once into ``root``.

    Args:
        root: Cache folder for the synthesised audio.
        num_train: Training utterances.
        num_validation: Validation utterances.
        num_test: Test utterances.
        seed: Corpus seed.
        snr_db: Additive white noise as an SNR range in dB, or ``None`` for clean speech.
        n_mels: Log-mel bands.
        batch_size: Utterances per batch.
        num_workers: DataLoader worker processes.
    """

    inventory = SyntheticSpeechCorpus.inventory

    def __init__(
        self,
        root: str = "data/synthetic",
        num_train: int = 2000,
        num_validation: int = 200,
        num_test: int = 200,
        seed: int = 0,
        snr_db: tuple[float, float] | None = (20.0, 40.0),
        n_mels: int = 40,
        batch_size: int = 16,
        num_workers: int = 0,
    ) -> None:
        super().__init__(n_mels, batch_size, num_workers)
        self.root = root
        self.sizes = {"train": num_train, "validation": num_validation, "test": num_test}
        self.seed = seed
        self.snr_db = snr_db

    def prepare_data(self) -> None:
        for split, size in self.sizes.items():  # synthesise (once) on one process
            self._corpus(split, size)

    def _corpus(self, split: str, size: int) -> SyntheticSpeechCorpus:
        return SyntheticSpeechCorpus(self.root, split, size, seed=self.seed, snr_db=self.snr_db)

    def setup(self, stage: str | None = None) -> None:
        for split, size in self.sizes.items():
            if split not in self.datasets and size > 0:
                corpus = self._corpus(split, size)
                self.datasets[split] = FeatureDataset(corpus, self.frontend, self.inventory, cache=True)
                if split == "train":
                    self.train_lengths = corpus.durations


class LibriSpeechData(SpeechDataModule):
    """LibriSpeech from a local folder (nothing is downloaded), optionally with MFA alignments.

    Args:
        root: Folder that contains ``LibriSpeech/<subset>/...``.
        train_subset: E.g. ``"train-clean-100"``.
        validation_subset: E.g. ``"dev-clean"``.
        test_subset: E.g. ``"test-clean"``.
        alignments_dir: Montreal-Forced-Aligner TextGrids (phone tier) for ``phoneme_labels`` and
            ARPAbet :attr:`group_names`; without them batches have no ``phoneme_labels`` and the
            groups are characters (``SpeechRecognizer.frame_labels`` aligns them).
        n_mels: Log-mel bands.
        batch_size: Utterances per batch.
        num_workers: DataLoader worker processes.
    """

    inventory = LibriSpeechDataset.inventory

    def __init__(
        self,
        root: str,
        train_subset: str = "train-clean-100",
        validation_subset: str = "dev-clean",
        test_subset: str = "test-clean",
        alignments_dir: str | None = None,
        n_mels: int = 80,
        batch_size: int = 32,
        num_workers: int = 4,
    ) -> None:
        super().__init__(n_mels, batch_size, num_workers)
        self.root = root
        self.subsets = {"train": train_subset, "validation": validation_subset, "test": test_subset}
        self.alignments_dir = alignments_dir
        self.has_phoneme_labels = alignments_dir is not None

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ["train", "validation"], "validate": ["validation"], "test": ["test"]}.get(
            stage or "", list(self.subsets)
        )
        for split in wanted:
            if split not in self.datasets:
                alignments = None
                if self.alignments_dir is not None:
                    alignments = os.path.join(self.alignments_dir, self.subsets[split])
                    alignments = alignments if os.path.isdir(alignments) else self.alignments_dir
                dataset = LibriSpeechDataset(self.root, self.subsets[split], alignments_dir=alignments)
                self.datasets[split] = FeatureDataset(
                    dataset, self.frontend, self.inventory, phoneme_labels=self.has_phoneme_labels
                )
