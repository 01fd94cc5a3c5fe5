"""The engine's tensors on the axes it folds: layer outputs, gradients and scores as ``[B, C, T]``
(by the layouts found by probing, or ``channels_last`` / ``class_dim``), lengths in input steps and the labels
checked against them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from lightning_gradnap.recording.batch import ProfileBatch, check_labels
from lightning_gradnap.recording.layouts import Layout, overridden
from lightning_gradnap.recording.objectives import scores_of

__all__ = ["absolute_lengths", "channels_first", "lengths_and_labels", "scores_bct"]


def channels_first(
    name: str,
    tensor: torch.Tensor,
    layout: Layout | None,
    label_level: str,
    channels_last: bool | Mapping[str, bool] | None,
) -> torch.Tensor:
    """A layer's output (or its gradient) as ``[B, C, T]`` (``[B, C]`` kept as it is).

    Args:
        name: The layer's name (for ``channels_last`` per layer, and the error).
        tensor: Its output or gradient.
        layout: Its layout found by probing, if any.
        label_level: ``"frame"`` or ``"utterance"``.
        channels_last: The engine's ``channels_last`` option.

    Raises:
        ValueError: for frame labels on a layer without a time axis.
    """
    if layout is not None and layout.ndim == tensor.dim():
        return layout.to_bct(tensor)
    if label_level == "frame" and tensor.dim() != 3:
        raise ValueError(
            f"layer {name!r} outputs shape {tuple(tensor.shape)}, but frame labels need a time "
            "axis ([B, C, T]): profile a layer with a time axis, or use label_level='utterance'"
        )
    return tensor.transpose(1, 2) if overridden(channels_last, name) and tensor.dim() == 3 else tensor


def scores_bct(
    output: Any,
    output_transform: Callable[[Any], torch.Tensor],
    class_dim: int | None,
    layout: Layout | None,
) -> torch.Tensor:
    """The model's scores with the classes on axis 1: by ``class_dim`` where given, else by the scores'
    layout found by probing (else axis 1)."""
    if class_dim is not None or layout is None:
        return scores_of(output, output_transform, 1 if class_dim is None else class_dim)
    return layout.to_bct(output_transform(output))


def absolute_lengths(batch: ProfileBatch, input_time_axis: int | None) -> torch.Tensor | None:
    """The batch's lengths in input steps: relative ones (floats in ``(0, 1]``, as SpeechBrain's
    ``wav_lens``) times the padded input length, rounded."""
    lengths = batch.lengths
    if lengths is None or not lengths.is_floating_point():
        return lengths
    first = batch.input_tuple[0]
    padded = first.shape[-1 if input_time_axis is None else input_time_axis]
    return torch.round(lengths.double() * padded).long()


def lengths_and_labels(
    batch: ProfileBatch,
    labels: object,
    input_time_axis: int | None,
    label_rate: int,
    label_level: str,
    num_groups: int,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The batch's lengths in input steps (:func:`absolute_lengths`), and ``labels`` checked against them
    (``label_rate`` input steps per frame label; :func:`~lightning_gradnap.recording.batch.check_labels`)."""
    lengths = absolute_lengths(batch, input_time_axis)
    label_lengths = None if lengths is None else torch.div(lengths + label_rate - 1, label_rate, rounding_mode="floor")
    return lengths, check_labels(labels, label_level, num_groups, label_lengths)
