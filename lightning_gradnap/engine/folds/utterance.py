"""Utterance level: each example's values are averaged over its valid frames, then grouped."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lightning_gradnap.engine.folds.base import BatchSums, Fold, FoldBatch
from lightning_gradnap.engine.group_sums import GroupSums

__all__ = ["UtteranceFold"]


class UtteranceFold(Fold):
    """``S[g, ...] += mean over the example's valid frames`` for each example labelled ``g``.

    ``[B, C, T]`` values with lengths are averaged over the frames of each utterance (by its frame
    map, NaN-safe: padded frames are left out, not multiplied by zero); other shapes over every
    position after the channel axis; ``[B, C]`` values are used as they are.
    """

    def batch_sums(
        self, values: Mapping[str, torch.Tensor], batch: FoldBatch, sums: Mapping[str, GroupSums]
    ) -> BatchSums:
        result = {}
        for name, layer_values in values.items():
            if layer_values.dim() > 2:
                flat = layer_values.flatten(2)
                if layer_values.dim() == 3 and batch.lengths is not None:
                    valid = batch.layer_valid(name, flat.shape[2])
                    flat = torch.where(valid[:, None, :], flat, 0)
                    count = valid.sum(dim=1, keepdim=True).clamp(min=1)
                else:
                    count = torch.full((flat.shape[0], 1), flat.shape[2], device=flat.device)
                layer_values = flat.sum(dim=2, dtype=torch.float64) / count
            result[name] = sums[name].batch_sums(layer_values, batch.labels.to(layer_values.device), batch.halves)
        return result
