"""Plain PyTorch: ``[B, F, T]`` features, a strided Conv1d, then a batch-first GRU after a transpose
inside the model; profiled by the callback as a user adds it, with utterances of several lengths.

Centres by hand: the Conv1d (kernel 5, stride 2, padding 2) puts frame ``t`` at
``2t - 2 + (5 - 1) / 2 = 2t``; the GRU (it sees the whole past) has the frames of the Conv1d. The
model does not mask, yet padding cannot reach a frame of an utterance: the convolution reads zeros
there as its own padding would, and a forward GRU never reads later frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tests.helpers.brute_force import Layout, conv_centres
from tests.helpers.model_matrix import QUIET, Case, check_against_reference, check_reference_with_frame_maps, fitted

pytestmark = QUIET
FEATURES, CLASSES = 8, 4
CONV = conv_centres([5], [2], [2])


class ConvGRU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(FEATURES, 12, 5, stride=2, padding=2)
        self.gru = nn.GRU(12, 16, batch_first=True)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x, _ = self.gru(F.relu(self.conv(features)).transpose(1, 2))
        return self.head(x).transpose(1, 2)  # [B, K, T']


CASES = [
    Case(
        "conv_gru_batch_first",
        ConvGRU,
        "features",
        ["features"],
        [Layout("net.conv", 0, 2, CONV), Layout("net.gru", 0, 1, CONV)],
        Layout("<output>", 0, 2, CONV),
        lengths=[19, 24, 14, 21],
        channels=FEATURES,
        lengths_key="lengths",
        frame_maps=dict.fromkeys(["net.conv", "net.gru", "<output>"], (2, 0.0, 1)),
        flat_layouts={"net.conv": False, "net.gru": True},
    )
]


def test_fit_profiles_equal_brute_force(tmp_path) -> None:
    check_against_reference(CASES[0], fitted(CASES[0], str(tmp_path)))


def test_reference_agrees_with_the_engine_given_frame_maps() -> None:
    check_reference_with_frame_maps(CASES[0])
