"""Frame bookkeeping: lengths, segments of one label, windows around them.

Where a (strided) layer's frames sit on the input is :mod:`lightning_gradnap.recording.frame_maps`.

All functions are vectorised over batch and frames; none loops in Python over frames.
A label of ``-1`` means "ignore this frame" (silence, padding, unaligned).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["IGNORE", "Segments", "cut_windows", "find_segments", "mask_lengths", "segment_salient_frames"]

IGNORE = -1


def mask_lengths(labels: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Set frame labels at and past each utterance's length to ``IGNORE``.

    Args:
        labels: Frame labels ``[B, T]``.
        lengths: Valid frames per utterance ``[B]``, or ``None`` (all frames valid).
    """
    if lengths is None:
        return labels
    frames = torch.arange(labels.shape[1], device=labels.device)
    return torch.where(frames[None, :] < lengths.to(labels.device)[:, None], labels, IGNORE)


@dataclass
class Segments:
    """Runs of equal, non-ignored labels within each utterance (all tensors ``[S]``).

    ``start`` and ``end`` are input frames, ``end`` inclusive. ``frame_segment`` is ``[B, T]``:
    the segment index of each input frame, or ``-1``.
    """

    batch: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    label: torch.Tensor
    frame_segment: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch.numel())


def find_segments(labels: torch.Tensor) -> Segments:
    """Split ``[B, T]`` frame labels into runs of one label (``IGNORE`` frames belong to none)."""
    labelled = labels >= 0
    previous = F.pad(labels, (1, 0), value=IGNORE)[:, :-1]
    following = F.pad(labels, (0, 1), value=IGNORE)[:, 1:]
    starts = labelled & (labels != previous)
    ends = labelled & (labels != following)
    batch, start = starts.nonzero(as_tuple=True)
    _, end = ends.nonzero(as_tuple=True)  # row-major order: the k-th end closes the k-th start
    frame_segment = torch.where(labelled, starts.flatten().cumsum(0).view_as(labels) - 1, IGNORE)
    return Segments(batch, start, end, labels[batch, start], frame_segment)


def segment_salient_frames(
    num_segments: int, layer_segment: torch.Tensor, saliency: torch.Tensor, fallback: torch.Tensor
) -> torch.Tensor:
    """The layer frame of largest ``saliency`` within each segment.

    Segments with no layer frame (shorter than the layer's stride) keep their ``fallback`` frame;
    ties take the first frame.

    Args:
        num_segments: ``S``.
        layer_segment: ``[B, T_layer]`` segment of each layer frame (that of its centre's input
            frame), ``-1`` for frames in no segment or outside the utterance.
        saliency: ``[B, T_layer]``, e.g. ``sum_c |dy/da[b, c, t]|``.
        fallback: ``[S]`` frame of segments without a layer frame (e.g. the nearest to the centre).
    """
    batch_size, num_layer_frames = saliency.shape
    layer_segment = layer_segment.flatten()
    member = layer_segment >= 0
    seg, values = layer_segment[member], saliency.flatten()[member].to(torch.float64)
    best = torch.full((num_segments,), float("-inf"), dtype=torch.float64, device=saliency.device)
    best = best.scatter_reduce(0, seg, values, reduce="amax")
    frames = torch.arange(num_layer_frames, device=saliency.device).repeat(batch_size)[member]
    is_best = values == best[seg]
    first = torch.full((num_segments,), num_layer_frames, dtype=torch.long, device=saliency.device)
    first = first.scatter_reduce(0, seg[is_best], frames[is_best], reduce="amin")
    return torch.where(first < num_layer_frames, first, fallback)


def cut_windows(
    values: torch.Tensor, batch_index: torch.Tensor, centres: torch.Tensor, valid: torch.Tensor, window: int
) -> torch.Tensor:
    """Windows of ``window`` frames centred on ``centres``, zero on frames that are not ``valid``.

    Args:
        values: ``[B, C, T]``.
        batch_index: ``[S]`` example of each window.
        centres: ``[S]`` centre frame of each window.
        valid: ``[B, T]`` frames that belong to each example.
        window: Frames per window (the centre is at ``window // 2``).

    Returns:
        ``[S, C, window]`` in the values' dtype, from one gather (frames outside read a zero frame
        appended to ``values``).
    """
    frames = values.shape[2]
    offsets = torch.arange(window, device=values.device) - window // 2
    index = centres.to(values.device)[:, None] + offsets[None, :]  # [S, W]
    inside = (index >= 0) & (index < frames)
    index = torch.where(inside, index, frames)
    keep = inside & F.pad(valid.to(values.device), (0, 1))[batch_index[:, None], index]
    padded = F.pad(values, (0, 1)).transpose(1, 2)  # [B, T + 1, C], frame T is zero
    return padded[batch_index[:, None], torch.where(keep, index, frames)].transpose(1, 2)
