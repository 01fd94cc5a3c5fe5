"""Receptive fields of layer frames, measured on random inputs: by gradients, or where a NaN goes.

On random inputs of ``T`` frames, the gradient of three layer frames (middle and either side) with
respect to the input is non-zero exactly on their receptive fields (summed over a few random inputs,
so that a max-pooling or a dead ReLU cannot hide a frame). A forward that blocks gradients is probed
by where a NaN in one input frame reaches instead. The centres of those fields give ``stride`` and
``offset``; ``T`` doubles until the fields lie inside the input. Part of
:func:`~lightning_gradnap.recording.probe.probe_frame_maps`.
"""

from __future__ import annotations

import torch

from lightning_gradnap.recording.frame_maps import centre_line
from lightning_gradnap.recording.probe_forward import ModelProbe, Outputs, ProbeRun

__all__ = ["LONGEST", "REPLICAS", "receptive_field_lines"]

Fields = tuple[list[int], list[tuple[int, int]]]  # probed layer frames, and each one's (first, last) input frame

REPLICAS = 4  # random inputs per probed frame when one input leaves gaps in a field (max-pooling, dead ReLUs)
LONGEST = 4096  # input frames the probe lengthens to at most (or 16 times the batch's length: a waveform front end)


def receptive_field_lines(
    run: ModelProbe, names: list[str], length: int
) -> tuple[dict[str, tuple[float, float] | None], int]:
    """``(stride, offset)`` of each local layer; None for a layer whose field spans the input; and the
    input length they were found at (doubled from ``length`` while fields do not fit, if the model
    takes other lengths).

    A layer is local at ``length`` when a NaN in the middle input frame reaches neither end of its
    frames (structural: no gradient can vanish on the way). Its fields then come from gradients of
    one random input, checked against where that NaN went; where they disagree (a max-pooling or
    a dead ReLU hid part of a field), from :data:`REPLICAS` random inputs.
    """
    lines: dict[str, tuple[float, float] | None] = {}
    longest = max(LONGEST, 16 * length)
    while True:
        with torch.no_grad():
            _, spread = run(length, 1, [length // 2])
        local = [n for n in names if n not in lines and not _reaches_an_end(spread[n])]
        probes: dict[int, tuple[torch.Tensor, Outputs]] = {}
        for name in local:
            fields = None
            for replicas in (1, REPLICAS):
                if replicas not in probes:
                    probes[replicas] = run(length, 3 * replicas)
                fields = _fields(run, *probes[replicas], name, length, replicas)
                if fields is None or (_agrees(fields, spread[name], length // 2) and _on_a_line(fields)):
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
            return lines, length
        if length * 2 > longest or not run.accepts_other_lengths:
            return {**lines, **{n: None for n in unresolved}}, length
        length *= 2


def _on_a_line(fields: Fields) -> bool:
    frames, supports = fields
    return centre_line(frames, [lo + hi for lo, hi in supports]) is not None


def _reaches_an_end(output: torch.Tensor) -> bool:
    """Whether the NaN of the probe reached the first or the last frame of ``output`` ``[1, C, T]``."""
    ends = output[0][:, [0, -1]]
    return bool(torch.isnan(ends).any())


def _agrees(fields: Fields, spread: torch.Tensor, nan_frame: int) -> bool:
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


def _fields(run: ProbeRun, x: torch.Tensor, outputs: Outputs, name: str, length: int, replicas: int) -> Fields | None:
    """Three probed layer frames and their receptive fields ``(first, last)`` input frame, or None if a
    field touches an edge of the input."""
    frames = outputs[name].shape[-1]
    if frames < 3:
        return None
    for step in dict.fromkeys([max(1, frames // 8), 1]):  # neighbours where the fields of frames // 8 apart do not fit
        fields = _fields_of(
            run, x, outputs, name, length, replicas, [frames // 2 - step, frames // 2, frames // 2 + step]
        )
        if fields is not None:
            return fields
    return None


def _fields_of(
    run: ProbeRun, x: torch.Tensor, outputs: Outputs, name: str, length: int, replicas: int, probed: list[int]
) -> Fields | None:
    """The receptive fields of the ``probed`` frames, or None if one is empty or touches an edge of the input."""
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
