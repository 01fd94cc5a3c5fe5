"""Time-resolved profiles: windows of layer frames around each labelled segment (docs/METHOD.md §1.5)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lightning_gradnap.engine.folds.base import BatchSums, Fold, FoldBatch
from lightning_gradnap.engine.group_sums import GroupSums
from lightning_gradnap.engine.segments import cut_windows, segment_salient_frames

__all__ = ["WindowFold"]


class WindowFold(Fold):
    """``S[g, c, tau]``: a window of ``window`` layer frames per segment of group ``g``.

    Args:
        window: Layer frames per window (the centre at ``window // 2``); frames outside the
            utterance are zero.
        center: ``"segment"``: the layer frame nearest the segment's centre; ``"salient"``: its
            frame of largest ``sum_c |dy/da|`` (``FoldBatch.saliency``).
    """

    def __init__(self, window: int, center: str = "segment") -> None:
        self.window = window
        self.center = center

    @property
    def needs_segments(self) -> bool:
        return True

    def batch_sums(
        self, values: Mapping[str, torch.Tensor], batch: FoldBatch, sums: Mapping[str, GroupSums]
    ) -> BatchSums:
        segments = batch.segments
        result = {}
        for name, layer_values in values.items():
            frames = layer_values.shape[2]
            frame_map, valid = batch.frame_maps[name], batch.layer_valid(name, frames)
            centres = frame_map.nearest_frame(batch.label_positions(segments.start + segments.end))
            if self.center == "salient":
                assert batch.saliency is not None
                layer_segment = torch.where(valid, segments.frame_segment[:, _clamped_centres(batch, name, frames)], -1)
                centres = segment_salient_frames(len(segments), layer_segment, batch.saliency[name], centres)
            windows = cut_windows(layer_values, segments.batch, centres, valid, self.window)
            result[name] = sums[name].batch_sums(windows, segments.label, batch.halves[segments.batch])
        return result


def _clamped_centres(batch: FoldBatch, name: str, frames: int) -> torch.Tensor:
    centres = batch.label_frames(batch.frame_maps[name].input_frames(frames, batch.labels.device))
    return centres.clamp(0, batch.labels.shape[1] - 1)
