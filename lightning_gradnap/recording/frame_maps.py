"""Where each layer's frames sit on the input's time axis: a property of the model, not of a batch.

A layer frame takes the label of the input frame at the centre of its receptive field (docs/METHOD.md
§1.2). For convolutions, poolings and strides that centre is ``floor(stride * t + offset)``, and an
utterance of ``L`` input frames has ``(L + length_offset) // stride`` frames in the layer, whatever
it is batched with. :class:`FrameMap` holds those three numbers; :func:`probe_frame_maps` finds
them once from the model itself; a user may give them (or any mapping) by hand instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import torch

__all__ = ["CustomFrameMap", "FrameMap", "as_frame_map", "IDENTITY"]


@dataclass(frozen=True)
class FrameMap:
    """Layer frame ``t`` is centred on input frame ``floor(stride * t + offset)``.

    Args:
        stride: Input frames per layer frame (2 after a stride-2 convolution; 0.5 after upsampling).
        offset: Input position of layer frame 0's centre (a multiple of 0.5 for convolutions).
        length_offset: An utterance of ``L`` input frames has ``(L + length_offset) // stride``
            layer frames (integer ``stride`` only); ``None``: every frame whose centre lies inside.

    A layer frame is *valid* for an utterance when its centre lies inside the utterance and the
    frame exists for that utterance alone; other frames are ignored, so that profiles do not
    depend on padding.
    """

    stride: float = 1
    offset: float = 0.0
    length_offset: int | None = 0

    def __post_init__(self) -> None:
        if not self.stride > 0:
            raise ValueError(f"a frame map's stride must be positive, got {self.stride}")
        if self.length_offset is not None and float(self.stride) != int(self.stride):
            raise ValueError("length_offset needs an integer stride; give length_offset=None")

    def input_frames(self, num_frames: int, device: torch.device | str | None = None) -> torch.Tensor:
        """``[T_layer]`` input frame at the centre of each layer frame (may lie outside ``0 .. T_in - 1``)."""
        t = torch.arange(num_frames, device=device, dtype=torch.float64)
        return torch.floor(t * float(self.stride) + float(self.offset)).long()

    def valid(self, lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``[B, T_layer]`` mask of the frames that belong to each utterance of ``lengths`` input frames."""
        centres = self.input_frames(num_frames, lengths.device)
        inside = (centres[None, :] >= 0) & (centres[None, :] < lengths[:, None])
        if self.length_offset is None:
            return inside
        own_frames = torch.div(lengths + self.length_offset, int(self.stride), rounding_mode="floor")
        return inside & (torch.arange(num_frames, device=lengths.device)[None, :] < own_frames[:, None])

    def nearest_frame(self, doubled_positions: torch.Tensor) -> torch.Tensor:
        """The layer frame whose centre is nearest each input position (given doubled, e.g. ``start + end``)."""
        return torch.floor((doubled_positions.double() / 2 - float(self.offset)) / float(self.stride) + 0.5).long()


class CustomFrameMap:
    """Any mapping, for models no stride and offset describe.

    Args:
        input_frames: ``num_layer_frames -> [T_layer]`` long tensor of the input frame each layer
            frame takes its label from. A frame is valid when that input frame lies inside the
            utterance.
    """

    def __init__(self, input_frames: Callable[[int], torch.Tensor]) -> None:
        self._input_frames = input_frames

    def input_frames(self, num_frames: int, device: torch.device | str | None = None) -> torch.Tensor:
        return torch.as_tensor(self._input_frames(num_frames), dtype=torch.long, device=device)

    def valid(self, lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
        centres = self.input_frames(num_frames, lengths.device)
        return (centres[None, :] >= 0) & (centres[None, :] < lengths[:, None])

    def nearest_frame(self, doubled_positions: torch.Tensor) -> torch.Tensor:
        centres = self.input_frames(int(doubled_positions.max(initial=0)) + 2, doubled_positions.device)
        distance = (2 * centres[None, :] - doubled_positions[:, None]).abs()
        return distance.argmin(dim=1)


AnyFrameMap = Union[FrameMap, CustomFrameMap]
FrameMapSpec = Union[AnyFrameMap, Callable[[int], torch.Tensor], "tuple[float, ...]", "list[float]"]
IDENTITY = FrameMap(1, 0.0, 0)


def as_frame_map(name: str, spec: FrameMapSpec) -> AnyFrameMap:
    """A :class:`FrameMap` from ``(stride, offset[, length_offset])``, a callable, or a map as it is."""
    if isinstance(spec, (FrameMap, CustomFrameMap)):
        return spec
    if callable(spec):
        return CustomFrameMap(spec)
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3):
        stride, offset = float(spec[0]), float(spec[1])
        length_offset = int(spec[2]) if len(spec) == 3 and spec[2] is not None else None
        return FrameMap(int(stride) if stride.is_integer() else stride, offset, length_offset)
    raise ValueError(
        f"frame_maps[{name!r}] should be (stride, offset[, length_offset]), a FrameMap or a callable "
        f"num_layer_frames -> input frames, got {spec!r}"
    )


def check_frame_maps(frame_maps: Mapping[str, FrameMapSpec] | None, names: Sequence[str]) -> dict[str, AnyFrameMap]:
    """Turn a user's ``frame_maps`` option into maps by name, for the profiled ``names`` only."""
    unknown = sorted(set(frame_maps or {}) - set(names))
    if unknown:
        raise ValueError(f"`frame_maps` names {unknown}, which are not profiled: use names from {list(names)}")
    return {name: as_frame_map(name, spec) for name, spec in (frame_maps or {}).items()}


def fit_length_offset(stride: int, frames_by_length: Mapping[int, int]) -> int | None:
    """The ``length_offset`` with ``(L + length_offset) // stride == frames`` for every measured ``L``."""
    length, frames = next(iter(frames_by_length.items()))
    for candidate in range(stride * frames - length, stride * frames - length + stride):
        if all((L + candidate) // stride == n for L, n in frames_by_length.items()):
            return candidate
    return None


def centre_line(frames: list[int], doubled_centres: list[int]) -> tuple[float, float] | None:
    """``(stride, offset)`` of the line through ``(t, centre)`` points, or None if they are not on one."""
    (t0, t1, t2), (c0, c1, c2) = frames, doubled_centres
    stride = (c2 - c0) / (2 * (t2 - t0))
    if not math.isclose((c1 - c0) / (t1 - t0), (c2 - c1) / (t2 - t1)) or stride <= 0:
        return None
    stride = int(stride) if float(stride).is_integer() else stride
    return stride, c0 / 2 - stride * t0
