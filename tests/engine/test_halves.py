"""The split halves depend on the data only: not on the labels, the batching or the padding (issue 24, point 5)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lightning_gradnap import ProfileEngine
from lightning_gradnap.engine.folds import split_halves


def test_each_class_of_equal_length_examples_splits_evenly() -> None:
    """64 images of 4 classes: labels once put every class in one half (16, 0)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(64, 3, 8, 8, generator=generator)
    labels = torch.arange(64) % 4
    halves = split_halves(images, None, None)
    for group in range(4):
        in_first = int((halves[labels == group] == 0).sum())
        assert 4 <= in_first <= 12, f"class {group}: {in_first} of 16 in the first half"


def test_equal_label_sequences_split_and_frames_split_evenly() -> None:
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(40, 20, 6, generator=generator)  # [B, T, F]
    lengths = torch.randint(10, 21, (40,), generator=generator)
    halves = split_halves(features, lengths, time_axis=1)
    assert 12 <= int(halves.sum()) <= 28  # utterances with one label sequence still split
    frame_labels = torch.arange(20).repeat(40, 1) % 5  # every utterance has the same labels
    valid = torch.arange(20)[None, :] < lengths[:, None]
    for group in range(5):
        frames = (frame_labels == group) & valid
        first_half = int((frames & (halves[:, None] == 0)).sum())
        assert 0.25 < first_half / int(frames.sum()) < 0.75


def test_halves_ignore_batching_padding_and_device_of_the_values() -> None:
    generator = torch.Generator().manual_seed(2)
    lengths = torch.tensor([7, 12, 3, 9])
    audio = [torch.randn(int(n), generator=generator) for n in lengths]
    padded = nn.utils.rnn.pad_sequence(audio, batch_first=True)  # [B, 12]
    halves = split_halves(padded, lengths, time_axis=1)
    longer = torch.cat([padded, torch.full((4, 5), 3.0)], dim=1)  # other padding values past the length
    assert torch.equal(split_halves(longer, lengths, time_axis=1), halves)
    alone = torch.cat(
        [split_halves(x[None, : int(n)], n[None], time_axis=1) for x, n in zip(padded, lengths, strict=True)]
    )
    assert torch.equal(alone, halves)
    assert torch.equal(split_halves(padded.double(), lengths, 1), split_halves(padded.double(), lengths, 1))
    assert torch.equal(split_halves(-torch.zeros(2, 3), None, None), split_halves(torch.zeros(2, 3), None, None))


def test_the_engine_splits_one_class_of_images_into_both_halves() -> None:
    """Utterance level without lengths (images): the halves came from the position in the stream."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3))
    engine = ProfileEngine(["2"], 3, label_level="utterance")
    images = torch.randn(48, 12)
    labels = torch.zeros(48, dtype=torch.long)  # one class: all its examples were in one half before
    for start in range(0, 48, 16):
        engine.run_batch(model, (images[start : start + 16], labels[start : start + 16]))
    counts = engine.sums["2"].half_counts.cpu().numpy()
    assert counts[:, 0].min() >= 12 and counts[:, 0].sum() == 48
    again = ProfileEngine(["2"], 3, label_level="utterance")
    for start in range(0, 48, 7):  # another batching, the same halves
        again.run_batch(model, (images[start : start + 7], labels[start : start + 7]))
    np.testing.assert_array_equal(again.sums["2"].half_counts.cpu().numpy(), counts)
