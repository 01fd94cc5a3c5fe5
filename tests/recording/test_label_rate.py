"""Labels at a coarser rate than the input: a layer frame takes the label at its receptive-field
centre ``// label_rate``, exactly as with one label per input step repeated ``label_rate`` times."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_gradnap import compute_profiles
from tests.helpers.masked_models import PooledDilated

RATE = 4


def batches(label_rate: int) -> list[tuple]:
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(3, 4, 96, generator=generator)
    coarse = torch.randint(-1, 3, (3, 96 // RATE), generator=generator)
    lengths = torch.tensor([96, 80, 52])  # input steps (whole label frames: segments end alike), not label frames
    labels = coarse if label_rate == RATE else coarse.repeat_interleave(RATE, dim=1)
    return [((x, lengths), labels, lengths)]


@pytest.mark.parametrize("options", [{}, {"window": 3}, {"window": 3, "window_center": "salient"}])
def test_coarse_labels_give_the_profiles_of_labels_repeated_per_input_step(options) -> None:
    model = PooledDilated().eval()
    layers = ["conv0", "pool", "dilated"]
    fine = compute_profiles(model, batches(1), layers, 3, **options)
    coarse = compute_profiles(model, batches(RATE), layers, 3, label_rate=RATE, **options)
    for name in layers:
        np.testing.assert_array_equal(coarse[name].counts, fine[name].counts)
        np.testing.assert_allclose(coarse[name].means, fine[name].means, rtol=1e-6, atol=1e-9)  # summation order


def test_a_label_rate_below_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="label_rate must be a positive integer"):
        compute_profiles(PooledDilated().eval(), batches(1), ["pool"], 3, label_rate=0)
