"""Input-domain feature views: windows of the model input around each labelled segment (docs/METHOD.md §1.7)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lightning_gradnap.engine.folds.base import BatchSums, Fold, FoldBatch
from lightning_gradnap.engine.group_sums import GroupSums
from lightning_gradnap.engine.segments import cut_windows

__all__ = ["InputWindowFold"]


class InputWindowFold(Fold):
    """``S[g, f, tau]``: a window of ``window`` input frames centred on each segment of group ``g``.

    Values are the input ``x`` and ``x * dy/dx`` as ``[B, F, T]``, one label per input frame.
    """

    def __init__(self, window: int) -> None:
        self.window = window

    @property
    def needs_segments(self) -> bool:
        return True

    @staticmethod
    def views(inputs: torch.Tensor, gradient: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """``{"<input>": x}``, and ``"<input_x_grad>": x * dy/dx`` when the input's gradient is given."""
        views = {"<input>": inputs.detach()}
        if gradient is not None:
            views["<input_x_grad>"] = inputs.detach() * gradient
        return views

    def batch_sums(
        self, values: Mapping[str, torch.Tensor], batch: FoldBatch, sums: Mapping[str, GroupSums]
    ) -> BatchSums:
        segments, labels = batch.segments, batch.labels
        assert batch.lengths is not None
        centres = torch.div(segments.start + segments.end + 1, 2, rounding_mode="floor")
        frames = torch.arange(labels.shape[1], device=labels.device)
        valid = frames[None, :] < batch.lengths[:, None]
        result = {}
        for name, view in values.items():
            if view.dim() != 3 or view.shape[-1] != labels.shape[1]:
                raise ValueError(
                    f"input windows need an input [B, F, T] with one label per input frame; got input "
                    f"{tuple(view.shape)} and labels {tuple(labels.shape)}: set input_window=None "
                    "(GradNAPCallback: leave 'features' out of `views`)"
                )
            windows = cut_windows(view, segments.batch, centres, valid, self.window)
            result[name] = sums[name].batch_sums(windows, segments.label, batch.halves[segments.batch])
        return result
