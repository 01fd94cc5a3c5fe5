"""Frame bookkeeping: lengths, mapping input frames to a (strided) layer's frames, segments.

All functions are vectorised over batch and frames; none loops in Python over frames.
A label of ``-1`` means "ignore this frame" (silence, padding, unaligned).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "IGNORE",
    "Segments",
    "cut_windows",
    "find_segments",
    "layer_frame_index",
    "layer_valid_mask",
    "mask_lengths",
    "segment_centres",
    "segment_salient_frames",
]

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


def layer_frame_index(num_input_frames: int, num_layer_frames: int, device=None) -> torch.Tensor:
    """For each layer frame ``t``, the input frame ``floor((t + 0.5) * T_in / T_layer)``.

    Computed in integers (``((2t + 1) * T_in) // (2 * T_layer)``), so it is exact.
    """
    t = torch.arange(num_layer_frames, device=device, dtype=torch.long)
    return ((2 * t + 1) * num_input_frames) // (2 * num_layer_frames)


def layer_valid_mask(
    lengths: torch.Tensor | None, num_input_frames: int, num_layer_frames: int, batch_size: int, device=None
) -> torch.Tensor:
    """``[B, T_layer]`` mask of the layer frames whose input frame lies inside the utterance."""
    if lengths is None:
        return torch.ones(batch_size, num_layer_frames, dtype=torch.bool, device=device)
    index = layer_frame_index(num_input_frames, num_layer_frames, device)
    return index[None, :] < lengths.to(device)[:, None]


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


def segment_centres(segments: Segments, num_input_frames: int, num_layer_frames: int) -> torch.Tensor:
    """The layer frame at each segment's centre, ``floor(centre_in * T_layer / T_in)``."""
    doubled_centre = segments.start + segments.end + 1  # 2 * (centre + 0.5) in input frames
    return (doubled_centre * num_layer_frames) // (2 * num_input_frames)


def segment_salient_frames(
    segments: Segments, saliency: torch.Tensor, num_input_frames: int, valid: torch.Tensor
) -> torch.Tensor:
    """The layer frame of largest ``saliency`` within each segment.

    A layer frame belongs to the segment of the input frame it maps to. Segments with no layer
    frame (shorter than the layer's stride) fall back to their centre; ties take the first frame.

    Args:
        segments: From :func:`find_segments` on the input-frame labels.
        saliency: ``[B, T_layer]``, e.g. ``sum_c |dy/da[b, c, t]|``.
        num_input_frames: ``T_in`` of the labels.
        valid: ``[B, T_layer]`` mask of frames inside the utterance.
    """
    batch_size, num_layer_frames = saliency.shape
    index = layer_frame_index(num_input_frames, num_layer_frames, saliency.device)
    layer_segment = torch.where(valid, segments.frame_segment[:, index], IGNORE).flatten()
    member = layer_segment >= 0
    seg, values = layer_segment[member], saliency.flatten()[member].to(torch.float64)
    count = len(segments)
    best = torch.full((count,), float("-inf"), dtype=torch.float64, device=saliency.device)
    best = best.scatter_reduce(0, seg, values, reduce="amax")
    frames = torch.arange(num_layer_frames, device=saliency.device).repeat(batch_size)[member]
    is_best = values == best[seg]
    first = torch.full((count,), num_layer_frames, dtype=torch.long, device=saliency.device)
    first = first.scatter_reduce(0, seg[is_best], frames[is_best], reduce="amin")
    centres = segment_centres(segments, num_input_frames, num_layer_frames)
    return torch.where(first < num_layer_frames, first, centres)


def cut_windows(
    values: torch.Tensor, batch_index: torch.Tensor, centres: torch.Tensor, lengths: torch.Tensor, window: int
) -> torch.Tensor:
    """Windows of ``window`` frames centred on ``centres``, zero outside ``0 .. lengths[b] - 1``.

    Args:
        values: ``[B, C, T]``.
        batch_index: ``[S]`` example of each window.
        centres: ``[S]`` centre frame of each window.
        lengths: ``[B]`` valid frames per example.
        window: Frames per window (the centre is at ``window // 2``).

    Returns:
        ``[S, C, window]`` in the values' dtype, from one gather (frames outside read a zero frame
        appended to ``values``).
    """
    frames = values.shape[2]
    offsets = torch.arange(window, device=values.device) - window // 2
    index = centres.to(values.device)[:, None] + offsets[None, :]  # [S, W]
    outside = (index < 0) | (index >= lengths.to(values.device)[batch_index][:, None])
    padded = F.pad(values, (0, 1)).transpose(1, 2)  # [B, T + 1, C], frame T is zero
    return padded[batch_index[:, None], torch.where(outside, frames, index)].transpose(1, 2)
