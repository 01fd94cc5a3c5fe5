"""Which axes of a layer's output are batch, time and neurons: a property of the model, found per layer.

A :class:`Layout` names the batch and the time axis of a tensor; every other axis holds neurons
(``[B, C, F, T]`` of a 2-D convolution has ``C * F``). :meth:`Layout.to_bct` brings a tensor to
``[B, C, T]`` with one permute and one reshape. :func:`layout_from_shapes` finds the layout from
the shapes of one output at two batch sizes and two input lengths (the axis that follows the
batch size is the batch, the axis that follows the input's length is time);
:func:`time_axis_by_spread` finds the time axis of a fixed-length model from where a NaN in one
input frame goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

__all__ = ["CHANNELS_FIRST", "CHANNELS_LAST", "Layout", "LayoutOverride", "layout_from_shapes", "time_axis_by_spread"]

LayoutOverride = bool | Mapping[str, bool] | None  # the ``channels_last`` option: all, per layer, or probe
INPUT = "<input>"  # the model's first input, among the names of ``channels_last``


@dataclass(frozen=True)
class Layout:
    """Batch and time axes of an ``ndim``-dimensional tensor (non-negative); the other axes are neurons."""

    batch_axis: int = 0
    time_axis: int = 2
    ndim: int = 3

    def to_bct(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` as ``[B, C, T]``, the other axes folded into ``C`` in their order (a view where possible)."""
        if (self.batch_axis, self.time_axis, self.ndim) == (0, 2, 3):
            return tensor
        others = [axis for axis in range(self.ndim) if axis not in (self.batch_axis, self.time_axis)]
        moved = tensor.permute(self.batch_axis, *others, self.time_axis)
        return moved.reshape(moved.shape[0], -1, moved.shape[-1]) if len(others) != 1 else moved

    def describe(self, shape: tuple[int, ...] | torch.Size) -> str:
        """E.g. ``[T=50, B=2, 6]`` for a time-first output."""
        names = {self.batch_axis: "B=", self.time_axis: "T="}
        return "[" + ", ".join(f"{names.get(axis, '')}{size}" for axis, size in enumerate(shape)) + "]"


CHANNELS_FIRST, CHANNELS_LAST = Layout(0, 2, 3), Layout(0, 1, 3)


def overridden(option: LayoutOverride, name: str) -> bool | None:
    """What ``channels_last`` says of ``name``: True, False, or None (find it by probing)."""
    if option is None or isinstance(option, bool):
        return option
    value = option.get(name)
    return None if value is None else bool(value)


def layout_from_shapes(
    name: str,
    shape: tuple[int, ...],
    other_batch: tuple[int, ...] | None,
    other_length: tuple[int, ...] | None,
    batch_size: int,
) -> Layout | None:
    """The layout of ``name``'s output ``shape`` (``batch_size`` examples), from its shape with another batch
    size and with another input length (``None``: not measured); None when no axis follows the input's
    length (no time axis, e.g. ``[B, C]``).

    Raises:
        ValueError: naming the layer, its shape and the option to set, when an axis is ambiguous.
    """
    option = f"channels_last={{{name!r}: True or False}} (or frame_maps={{{name!r}: ...}})"
    batch_axes = _changed_axes(shape, other_batch) if other_batch is not None else [0]
    if len(batch_axes) != 1 or shape[batch_axes[0]] != batch_size:
        raise ValueError(
            f"cannot tell the batch axis of {name!r}: its output {tuple(shape)} for {batch_size} examples changes "
            f"on axes {batch_axes} with the batch size (one axis of size {batch_size} expected). Profile a "
            "module whose output has one batch axis"
        )
    if other_length is None:
        return None
    time_axes = [axis for axis in _changed_axes(shape, other_length) if axis != batch_axes[0]]
    if not time_axes:
        return None
    if len(time_axes) > 1:
        raise ValueError(
            f"cannot tell the time axis of {name!r}: axes {time_axes} of its output {tuple(shape)} all grow with "
            f"the input's length; give {option}"
        )
    return Layout(batch_axes[0], time_axes[0], len(shape))


def _changed_axes(shape: tuple[int, ...], other: tuple[int, ...]) -> list[int]:
    if len(shape) != len(other):
        return list(range(len(shape)))
    return [axis for axis, (a, b) in enumerate(zip(shape, other, strict=True)) if a != b]


def time_axis_by_spread(name: str, nan_output: torch.Tensor, batch_axis: int) -> int | None:
    """The axis along which a NaN in one input frame reaches some positions but not others (a local
    layer's time axis); None when it reaches every position (a layer that sees the whole input).

    Raises:
        ValueError: naming the layer, when it reaches part of more than one axis.
    """
    reached = nan_output if nan_output.dtype == torch.bool else torch.isnan(nan_output)
    if not reached.any() or reached.all():
        return None
    partial = []
    for axis in range(reached.dim()):
        if axis == batch_axis:
            continue
        along = reached.movedim(axis, 0).flatten(1).any(dim=1)
        if not along.all():
            partial.append(axis)
    if len(partial) != 1:
        raise ValueError(
            f"cannot tell the time axis of {name!r} (output {tuple(nan_output.shape)}) at the model's one input "
            f"length: give channels_last={{{name!r}: True or False}} or frame_maps={{{name!r}: ...}}"
        )
    return partial[0]
