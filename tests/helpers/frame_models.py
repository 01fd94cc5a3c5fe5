"""A tiny per-frame model (1x1 convolutions: padding stays in the padded frames) and a batch for it,
for tests of the core without a Trainer."""

from __future__ import annotations

import torch
from torch import nn


def frame_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential()
    model.add_module("conv", nn.Conv1d(3, 4, 1))  # per frame: padding stays in the padded frames
    model.add_module("relu", nn.ReLU())
    model.add_module("out", nn.Conv1d(4, 3, 1))
    return model.eval()


def frame_batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 3, 12, generator=generator)
    labels = torch.randint(0, 3, (3, 12), generator=generator)
    lengths = torch.tensor([12, 7, 4])
    return x, labels, lengths
