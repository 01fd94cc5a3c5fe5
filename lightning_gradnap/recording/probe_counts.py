"""Frame counts by input length: each map's ``length_offset``, and the maps of layers that see the whole input.

Forwards of ``L, L + 1, ...`` frames give ``length_offset``. A layer whose field spans any input
(recurrent, attention) takes its feeder's map, else keeps the frames of its input: identity if it has
as many frames, else a proportional map, with a warning. Part of
:func:`~lightning_gradnap.recording.probe.probe_frame_maps`.
"""

from __future__ import annotations

import warnings

import torch

from lightning_gradnap.recording.frame_maps import IDENTITY, AnyFrameMap, FrameMap, fit_length_offset
from lightning_gradnap.recording.probe_fields import receptive_field_lines
from lightning_gradnap.recording.probe_forward import ModelProbe

__all__ = ["with_frame_counts"]


def with_frame_counts(
    run: ModelProbe, lines: dict[str, tuple[float, float] | None], length: int, feeders: dict[str, str]
) -> dict[str, AnyFrameMap]:
    """Add ``length_offset`` from the frame counts at several input lengths (none for a model of one
    length); a layer that sees the whole input takes its feeder's map."""
    if feeders:
        feeder_lines, length = receptive_field_lines(run, sorted(set(feeders.values())), length)
        lines = {**lines, **{f: line for f, line in feeder_lines.items() if line is not None}}
    counts = _Counts(run)
    maps: dict[str, AnyFrameMap] = {}
    for name, line in lines.items():
        if line is None:
            continue
        stride, offset = line
        if not run.accepts_other_lengths or not float(stride).is_integer():
            maps[name] = FrameMap(stride, offset, None)
            continue
        counts.check_follows(name, length)
        maps[name] = FrameMap(int(stride), offset, counts.length_offset(name, int(stride), length))
    for name, line in lines.items():
        if line is not None:
            continue
        feeder = feeders.get(name)
        if feeder in maps:
            warnings.warn(
                f"{name!r} sees the whole input (recurrent or attention layer?): its frames take the frame map of "
                f"{feeder[len('<via>') :]!r}, the local module run last before it with as many frames "
                f"({maps[feeder]}). Give frame_maps={{{name!r}: (stride, offset)}} to place them yourself.",
                UserWarning,
                stacklevel=5,
            )
            maps[name] = maps[feeder]
        elif not run.accepts_other_lengths:
            raise ValueError(
                f"{name!r} sees the whole input and no local module with as many frames runs before it: its "
                f"frames cannot be placed on the input; give frame_maps={{{name!r}: (stride, offset)}}"
            )
        else:
            counts.check_follows(name, length)
            maps[name] = _unlocal_map(name, {L: counts.of(L)[name] for L in (length, length + 1, 2 * length)}, length)
    return maps


class _Counts:
    """Frame counts by input length (one forward per length, cached)."""

    def __init__(self, run: ModelProbe) -> None:
        self.run = run
        self.cache: dict[int, dict[str, int]] = {}

    def of(self, length: int) -> dict[str, int]:
        if length not in self.cache:
            with torch.no_grad():
                self.cache[length] = {name: out.shape[-1] for name, out in self.run(length, 1)[1].items()}
        return self.cache[length]

    def check_follows(self, name: str, length: int) -> None:
        if self.of(length)[name] == self.of(2 * length)[name]:
            raise ValueError(
                f"the time axis of {name!r} (size {self.of(length)[name]}) does not follow the input's length: if "
                "its output is [B, T, C], set channels_last=True (for the model's scores [B, T, K]: class_dim=-1), or "
                "channels_last=None to find each layer's layout by probing"
            )

    def length_offset(self, name: str, stride: int, length: int) -> int | None:
        """``(L + length_offset) // stride`` frames for ``L`` input frames: the first length past ``length``
        with one frame more, found by bisection (``log2(stride)`` forwards), then checked."""
        frames = self.of(length)[name]
        low, high = length, length + stride  # one more frame at some length in (low, high]
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if self.of(middle)[name] > frames else (middle, high)
        self.of(high), self.of(2 * length)
        measured = {L: counts[name] for L, counts in self.cache.items()}
        return fit_length_offset(stride, {length: frames, **measured})


def _unlocal_map(name: str, frames: dict[int, int], length: int) -> FrameMap:  # no feeder found
    """A layer that sees the whole input: the identity when it keeps the frames, else a proportional map."""
    if all(count == L for L, count in frames.items()):
        return IDENTITY
    ratio = length / (frames[2 * length] - frames[length])
    if not float(ratio).is_integer():
        raise ValueError(
            f"{name!r} sees the whole input and has {frames[length]} frames for {length} input frames: its "
            f"frames cannot be placed on the input; give frame_maps={{{name!r}: (stride, offset)}}"
        )
    stride = int(ratio)
    warnings.warn(
        f"{name!r} sees the whole input (recurrent or attention layer?), so its frames have no receptive-field "
        f"centre: frame t takes the label of input frame {stride}t + {(stride - 1) // 2}. Give "
        f"frame_maps={{{name!r}: (stride, offset)}} to place them yourself.",
        UserWarning,
        stacklevel=4,
    )
    return FrameMap(
        stride, (stride - 1) / 2, fit_length_offset(stride, {L: frames[L] for L in frames if 2 * length != L})
    )
