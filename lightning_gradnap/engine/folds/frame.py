"""Frame level: every valid layer frame adds its values to the group of its label."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lightning_gradnap.engine.folds.base import BatchSums, Fold, FoldBatch
from lightning_gradnap.engine.group_sums import GroupSums

__all__ = ["FrameFold"]


class FrameFold(Fold):
    """``S[g, c] += sum of values[b, c, t]`` over the frames labelled ``g``; ``N[g]`` counts them."""

    def batch_sums(
        self, values: Mapping[str, torch.Tensor], batch: FoldBatch, sums: Mapping[str, GroupSums]
    ) -> BatchSums:
        rows_by_labels: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # layers with equal labels share rows
        result = {}
        for name, layer_values in values.items():
            accumulator = sums[name]
            labels = batch.layer_labels(name, layer_values.shape[2])
            if id(labels) not in rows_by_labels:
                groups = torch.where(labels < 0, accumulator.num_groups, labels)
                rows_by_labels[id(labels)] = groups, accumulator.row_counts(accumulator.rows(labels, batch.halves))
            result[name] = accumulator.frame_batch_sums(layer_values, *rows_by_labels[id(labels)], batch.halves)
        return result
