"""Small models that mask their padding, for frame-map and batch-invariance tests."""

from __future__ import annotations

import torch
from torch import nn


class PooledDilated(nn.Module):
    """conv0 (kernel 5, padding 2) -> max-pool 3, stride 3 -> dilated conv (kernel 3, dilation 2,
    asymmetric padding 3 left / 1 right) -> 1x1 output; masks its padding after every layer."""

    def __init__(self, features: int = 4, channels: int = 6, classes: int = 5) -> None:
        super().__init__()
        self.conv0 = nn.Conv1d(features, channels, 5, padding=2)
        self.pool = nn.MaxPool1d(3, stride=3)
        self.pad = nn.ConstantPad1d((3, 1), 0.0)
        self.dilated = nn.Conv1d(channels, channels, 3, dilation=2)
        self.out = nn.Conv1d(channels, classes, 1)

    @staticmethod
    def masked(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            return x
        return x.masked_fill(torch.arange(x.shape[-1], device=x.device) >= lengths[:, None, None], 0.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.masked(torch.relu(self.conv0(self.masked(x, lengths))), lengths)
        pooled_lengths = None if lengths is None else torch.div(lengths, 3, rounding_mode="floor")
        x = self.masked(self.pool(x), pooled_lengths)
        x = self.masked(torch.relu(self.dilated(self.pad(x))), pooled_lengths)
        return self.out(x)
