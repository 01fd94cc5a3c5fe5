"""Find each layer's :class:`~lightning_gradnap.recording.frame_maps.FrameMap` once, by probing the model.

Receptive fields: on random inputs of ``T`` frames, the gradient of three layer frames (middle and
either side) with respect to the input is non-zero exactly on their receptive fields (summed over
a few random inputs, so that a max-pooling or a dead ReLU cannot hide a frame). A forward that
blocks gradients is probed by where a NaN in one input frame reaches instead. The centres of those
fields give ``stride`` and ``offset``; ``T`` doubles until the fields lie inside the input. Frame
counts: forwards of ``L, L + 1, ...`` frames give ``length_offset``. A layer whose field spans any
input (recurrent, attention) keeps the frames of its input: identity if it has as many frames,
else a proportional map, with a warning.

Probing runs the model in eval mode (the modes are restored), without touching parameters'
``.grad`` or the global random generators, with cuDNN off so that zero gradients stay exactly zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.frame_maps import IDENTITY, AnyFrameMap, FrameMap, centre_line, fit_length_offset
from lightning_gradnap.recording.probe_forward import OUTPUT, ProbeRun, model_probe

__all__ = ["OUTPUT", "find_frame_maps", "probe_frame_maps"]


Outputs = dict[str, torch.Tensor]  # name -> [B, C, T] (time last)

REPLICAS = 4  # random inputs per probed frame when one input leaves gaps in a field (max-pooling, dead ReLUs)
FIRST_LENGTH, LONGEST = 64, 4096


def probe_frame_maps(
    model: nn.Module, run: ProbeRun, names: Sequence[str], first_length: int = FIRST_LENGTH
) -> dict[str, AnyFrameMap]:
    """Frame maps of ``names`` (layers, and e.g. ``"output"``) found by probing.

    Args:
        model: The network (its train/eval modes are restored afterwards).
        run: ``run(frames, batch_size, nan_frames=None)`` builds a random input leaf
            ``[B, ..., frames]`` (time last) that requires grad, with NaN at frame
            ``nan_frames[b]`` of example ``b`` if given, runs the model on it and returns it with
            each name's output ``[B, C, T]``.
        names: What to probe.
        first_length: Input frames of the first probe (doubled while fields do not fit).

    Raises:
        ValueError: naming the layer and the option to set, when a layer's time axis does not
            follow the input's length, or its frames are not on a line.
    """
    modes = [(module, module.training) for module in model.modules()]
    cudnn = torch.backends.cudnn.flags(enabled=False, benchmark=False, deterministic=True)
    try:
        model.eval()
        with cudnn, torch.inference_mode(False), torch.enable_grad():
            lines = _receptive_field_lines(run, list(names), max(first_length, 16))
            return _with_frame_counts(run, lines, max(first_length, 16))
    finally:
        for module, training in modes:
            module.training = training


def find_frame_maps(
    model: nn.Module,
    batch: ProfileBatch,
    layers: Sequence[str] | Mapping[str, nn.Module],
    given: Mapping[str, AnyFrameMap],
    channels_last: bool = False,
    class_dim: int = 1,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    label_rate: int = 1,
) -> dict[str, AnyFrameMap]:
    """Maps of ``layers`` (names in ``model``, or modules by name) and of the scores (:data:`OUTPUT`):
    the ``given`` ones, the others probed (see :func:`model_probe` for the probe's inputs)."""
    names = [name for name in [*layers, OUTPUT] if name not in given]
    if not names:
        return dict(given)
    transform = output_transform if OUTPUT in names else None
    probed = (
        {n: layers[n] for n in names if n != OUTPUT}
        if isinstance(layers, Mapping)
        else [n for n in names if n != OUTPUT]
    )
    run = model_probe(model, batch, probed, channels_last, class_dim, transform, label_rate)
    return {**probe_frame_maps(model, run, names), **given}


def _receptive_field_lines(run: ProbeRun, names: list[str], length: int) -> dict[str, tuple[float, float] | None]:
    """``(stride, offset)`` of each local layer; None for a layer whose field spans the input.

    A layer is local at ``length`` when a NaN in the middle input frame reaches neither end of its
    frames (structural: no gradient can vanish on the way). Its fields then come from gradients of
    one random input, checked against where that NaN went; where they disagree (a max-pooling or
    a dead ReLU hid part of a field), from :data:`REPLICAS` random inputs.
    """
    lines: dict[str, tuple[float, float] | None] = {}
    while True:
        with torch.no_grad():
            _, spread = run(length, 1, [length // 2])
        names = [n for n in names if n in spread]  # the others have no time axis
        local = [n for n in names if n not in lines and not _reaches_an_end(spread[n])]
        probes: dict[int, tuple[torch.Tensor, Outputs]] = {}
        for name in local:
            fields = None
            for replicas in (1, REPLICAS):
                if replicas not in probes:
                    probes[replicas] = run(length, 3 * replicas)
                fields = _fields(run, *probes[replicas], name, length, replicas)
                if fields is None or _agrees(fields, spread[name], length // 2):
                    break
            if fields is not None:
                frames, supports = fields
                lines[name] = centre_line(frames, [lo + hi for lo, hi in supports])
                if lines[name] is None:
                    raise ValueError(
                        f"the frames of {name!r} are not evenly spaced on the input (receptive fields "
                        f"{supports} of frames {frames}): give frame_maps={{{name!r}: ...}}"
                    )
        unresolved = [n for n in names if n not in lines]
        if not unresolved:
            return lines
        if length >= LONGEST:
            return {**lines, **{n: None for n in unresolved}}
        length *= 2


def _reaches_an_end(output: torch.Tensor) -> bool:
    """Whether the NaN of the probe reached the first or the last frame of ``output`` ``[1, C, T]``."""
    ends = output[0][:, [0, -1]]
    return bool(torch.isnan(ends).any())


def _agrees(fields: tuple[list[int], list[tuple[int, int]]], spread: torch.Tensor, nan_frame: int) -> bool:
    """Whether the fields, if right, reach exactly the layer frames that the NaN at ``nan_frame`` reached."""
    frames, supports = fields
    if len({hi - lo for lo, hi in supports}) != 1:  # the fields of one layer are equally wide
        return False
    (t0, t2), (lo0, hi0), (lo2, _) = (frames[0], frames[2]), supports[0], supports[2]
    stride = (lo2 - lo0) / (t2 - t0)
    if stride <= 0:
        return False
    reached = torch.isnan(spread[0]).any(dim=0).nonzero().flatten()
    t = torch.arange(spread.shape[-1], dtype=torch.float64)
    predicted = ((stride * (t - t0) + lo0 <= nan_frame) & (nan_frame <= stride * (t - t0) + hi0)).nonzero().flatten()
    return torch.equal(reached.cpu(), predicted)


def _fields(run: ProbeRun, x: torch.Tensor, outputs: Outputs, name: str, length: int, replicas: int):
    """Three probed layer frames and their receptive fields ``(first, last)`` input frame, or None if a
    field touches an edge of the input."""
    frames = outputs[name].shape[-1]
    if frames < 3:
        return None
    middle, step = frames // 2, max(1, frames // 8)
    probed = [middle - step, middle, middle + step]
    if outputs[name].requires_grad:
        reached = _gradient_fields(x, outputs[name], probed, length, replicas)
    else:  # the forward blocks gradients (e.g. a frozen extractor under no_grad): follow NaNs instead
        reached = _nan_fields(run, name, probed, length)
    supports = []
    for support in reached:  # three rows
        where = support.nonzero().flatten().tolist()
        if not where or where[0] == 0 or where[-1] == length - 1:
            return None
        supports.append((where[0], where[-1]))
    return probed, supports


def _gradient_fields(
    x: torch.Tensor, output: torch.Tensor, probed: list[int], length: int, replicas: int
) -> torch.Tensor:
    """``[3, T]``: input frames with a non-zero gradient for each probed frame (over ``replicas`` random inputs)."""
    rows = torch.arange(3 * replicas, device=output.device)
    objective = output[rows, :, torch.tensor(probed, device=output.device).repeat_interleave(replicas)].sum()
    try:
        (gradient,) = torch.autograd.grad(objective, x, retain_graph=True, allow_unused=True)
    except RuntimeError as error:
        if "use_reentrant" not in str(error):
            raise
        raise RuntimeError(
            "GradNAPs need gradients of the layers' outputs, which activation checkpointing with "
            "use_reentrant=True does not give: use torch.utils.checkpoint.checkpoint(..., use_reentrant=False)"
        ) from error
    if gradient is None:
        return torch.zeros(3, length, dtype=torch.bool)
    return (gradient != 0).reshape(3, replicas, -1, length).any(dim=2).any(dim=1)  # the input is time-last


def _nan_fields(run: ProbeRun, name: str, probed: list[int], length: int, chunk: int = 16) -> torch.Tensor:
    """``[3, T]``: input frames whose NaN reaches each probed frame (one NaN frame per example)."""
    reached = []
    for start in range(0, length, chunk):
        nan_frames = list(range(start, min(start + chunk, length)))
        with torch.no_grad():
            _, outputs = run(length, len(nan_frames), nan_frames)
        output = outputs[name][:, :, probed]  # [chunk, C, 3]
        reached.append(torch.isnan(output).any(dim=1).T.cpu())  # [3, chunk]
    return torch.cat(reached, dim=1)


def _with_frame_counts(
    run: ProbeRun, lines: dict[str, tuple[float, float] | None], length: int
) -> dict[str, AnyFrameMap]:
    """Add ``length_offset`` from the frame counts at several input lengths."""
    strides = [int(line[0]) for line in lines.values() if line is not None and float(line[0]).is_integer()]
    lengths = range(length, length + max([*strides, 2]))
    with torch.no_grad():
        counts = {L: {name: out.shape[-1] for name, out in run(L, 1)[1].items()} for L in [*lengths, 2 * length]}
    maps: dict[str, AnyFrameMap] = {}
    for name, line in lines.items():
        frames = {L: counts[L][name] for L in counts}
        if frames[length] == frames[2 * length]:
            raise ValueError(
                f"the time axis of {name!r} (size {frames[length]}) does not follow the input's length: if its "
                "output is [B, T, C], set channels_last=True (for the model's scores [B, T, K]: class_dim=-1)"
            )
        if line is None:
            maps[name] = _unlocal_map(name, frames, length)
            continue
        stride, offset = line
        if not float(stride).is_integer():
            maps[name] = FrameMap(stride, offset, None)
            continue
        maps[name] = FrameMap(int(stride), offset, fit_length_offset(int(stride), {L: frames[L] for L in lengths}))
    return maps


def _unlocal_map(name: str, frames: dict[int, int], length: int) -> FrameMap:
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
