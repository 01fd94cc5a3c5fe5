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
from lightning_gradnap.recording.layouts import Layout, LayoutOverride, layout_from_shapes, time_axis_by_spread
from lightning_gradnap.recording.probe_forward import (
    BATCH_SIZES,
    OUTPUT,
    ModelProbe,
    ProbeFailed,
    ProbeRun,
    model_probe,
)
from lightning_gradnap.recording.probe_trace import LocalStatistics, ModuleTrace

__all__ = ["OUTPUT", "find_frame_maps", "find_maps_and_layouts", "probe_frame_maps"]


Outputs = dict[str, torch.Tensor]  # name -> [B, C, T] (time last)

REPLICAS = 4  # random inputs per probed frame when one input leaves gaps in a field (max-pooling, dead ReLUs)
FIRST_LENGTH = 64  # input frames of the first probe, where the model takes them (else the batch's length)
LONGEST = 4096  # input frames the probe lengthens to at most (or 16 times the batch's length: a waveform front end)


def probe_frame_maps(model: nn.Module, run: ModelProbe, names: Sequence[str]) -> dict[str, AnyFrameMap]:
    """Frame maps of ``names`` (layers, and e.g. ``"<output>"``) found by probing.

    Args:
        model: The network (its train/eval modes are restored afterwards).
        run: The probe's forward (:func:`model_probe`); its layouts are found here.
        names: What to probe.

    Raises:
        ValueError: naming the layer and the option to set, when a layer's time axis does not
            follow the input's length, or its frames are not on a line.
    """
    modes = [(module, module.training) for module in model.modules()]
    cudnn = torch.backends.cudnn.flags(enabled=False, benchmark=False, deterministic=True)
    try:
        model.eval()
        with cudnn, torch.inference_mode(False), torch.enable_grad(), LocalStatistics(model):
            if run.tokens:
                return _token_maps(run, names)
            first, trace, outputs = _first_layouts(model, run, names)
            timeless = [n for n in names if n in run.timeless]  # one input length, seeing all of it
            names = [n for n in names if n in run.layouts or n in run.timeless]  # the others have no time axis
            lines, length = _receptive_field_lines(run, [n for n in names if n in run.layouts], first)
            unlocal = [n for n, line in lines.items() if line is None] + timeless
            if unlocal and length != first:  # the feeders' fields fit where the local layers' do
                first, trace = length, ModuleTrace(model)
                outputs = run.find_layouts(length, trace)
            feeders = _feeders(run, trace, unlocal, outputs, first)
            maps = _with_frame_counts(run, {**lines, **dict.fromkeys(timeless)}, length, feeders)
            return {name: maps[name] for name in names}
    finally:
        for module, training in modes:
            module.training = training


def find_frame_maps(
    model: nn.Module,
    batch: ProfileBatch,
    layers: Sequence[str] | Mapping[str, nn.Module],
    given: Mapping[str, AnyFrameMap],
    channels_last: LayoutOverride = False,
    class_dim: int | None = 1,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    label_rate: int = 1,
    found: dict[str, Any] | None = None,
) -> dict[str, AnyFrameMap]:
    """Maps of ``layers`` (names in ``model``, or modules by name) and of the scores (:data:`OUTPUT`):
    the ``given`` ones, the others probed (see :class:`ModelProbe` for the probe's inputs). ``found``, if
    given, receives the ``layouts`` of the layers and scores and the first input's ``input_time_axis``."""
    maps, layouts, axis = find_maps_and_layouts(
        model, batch, layers, given, channels_last, class_dim, output_transform, label_rate
    )
    if found is not None:
        found.update(layouts=layouts, input_time_axis=axis)
    return maps


def find_maps_and_layouts(
    model: nn.Module,
    batch: ProfileBatch,
    layers: Sequence[str] | Mapping[str, nn.Module],
    given: Mapping[str, AnyFrameMap],
    channels_last: LayoutOverride = False,
    class_dim: int | None = 1,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    label_rate: int = 1,
) -> tuple[dict[str, AnyFrameMap], dict[str, Layout], int]:
    """:func:`find_frame_maps`, with the layout of each layer and of the scores, and the first input's time axis."""
    names = [name for name in [*layers, OUTPUT] if name not in given]
    if not names and isinstance(channels_last, bool):  # nothing to probe: the layouts are stated
        first = batch.input_tuple[0]
        return dict(given), {}, 1 if channels_last else max(first.dim() - 1, 0)
    run = model_probe(model, batch, layers, channels_last, class_dim, output_transform, label_rate)
    if not names:  # the layouts still come from the probe: its first forwards only
        run.find_layouts(max(run.batch_length, 16))
        return dict(given), run.layouts, run.time_axis
    maps = probe_frame_maps(model, run, names)
    return {**maps, **given}, dict(run.layouts), run.time_axis


def _first_layouts(model: nn.Module, run: ModelProbe, names: Sequence[str]):
    """The probe's first length, its module trace and outputs: :data:`FIRST_LENGTH` input frames (cheap) where
    the model takes them and every layer shows its time axis there, else the batch's own length (which
    the model takes by construction)."""
    first = max(run.batch_length, 16)
    if first > FIRST_LENGTH:
        trace = ModuleTrace(model)
        try:
            outputs = run.find_layouts(FIRST_LENGTH, trace)
            if all(n in run.layouts for n in names if n in outputs and outputs[n][0].dim() >= 3):
                return FIRST_LENGTH, trace, outputs
        except ProbeFailed:
            pass
        run.layouts, run.timeless, run.accepts_other_lengths = {}, {}, True
    trace = ModuleTrace(model)
    return first, trace, run.find_layouts(first, trace)


def _token_maps(run: ModelProbe, names: Sequence[str]) -> dict[str, AnyFrameMap]:
    """Integer token inputs (BERT-style ``input_ids``): every layer with a time axis keeps the tokens' frames.

    Raises:
        ValueError: naming the layer, when its frames are not the tokens'.
    """
    length = max(run.batch_length, 16)
    outputs = run.find_layouts(length)
    maps: dict[str, AnyFrameMap] = {}
    for name in names:
        layout = run.layouts.get(name)
        if layout is None:
            continue
        frames = [output.shape[layout.time_axis] for output in outputs[name]]
        if frames != [length, 2 * length if run.accepts_other_lengths else length]:
            raise ValueError(
                f"{name!r} has {frames[0]} frames for {length} input tokens: its frames cannot be placed on the "
                f"tokens; give frame_maps={{{name!r}: (stride, offset)}}"
            )
        maps[name] = IDENTITY
    return maps


def _feeders(
    run: ModelProbe,
    trace: ModuleTrace,
    unlocal: list[str],
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]],
    first: int,
) -> dict[str, str]:
    """For each layer that sees the whole input, the local module run last before it with as many frames
    (its frame map is the layer's); recorded by the probe from now on. Layers without one are left out.

    A layer of a model that takes one input length only has no layout yet: its time axis is then
    the one axis as long as that module's frames.
    """
    if not unlocal:
        return {}
    trace.nan_run = True
    with torch.no_grad(), trace:
        run.raw(first, BATCH_SIZES[0], [first // 2] * BATCH_SIZES[0])
    trace.nan_run = False
    modules = run.recorder.modules if run.recorder is not None else {}
    chosen: dict[str, str] = {}
    for name in unlocal:
        own = trace.name_of(modules[name]) if name in modules else None
        layout = run.layouts.get(name)
        frames = None if layout is None else tuple(output.shape[layout.time_axis] for output in outputs[name])
        for other in trace.before(own):
            call = trace.calls[other]
            other_layout = _traced_layout(run, call)
            if other_layout is None or call.reached is None:
                continue
            counts = tuple(call.shapes[i][other_layout.time_axis] for i in (0, 2 if 2 in call.shapes else 0))
            if frames is None:
                layout = _layout_by_frames(name, tuple(outputs[name][0].shape), run.timeless[name], counts[0])
                if layout is None:
                    continue
            elif counts != frames:
                continue
            reached = other_layout.to_bct(call.reached)
            if bool(reached[..., [0, -1]].any()):
                continue  # not local at this length
            chosen[name] = f"<via>{other}"
            run.layouts[chosen[name]] = other_layout
            run.layouts[name] = layout
            run.add_layers({chosen[name]: trace.modules[other]})
            break
    return chosen


def _traced_layout(run: ModelProbe, call) -> Layout | None:
    """The layout of a traced module's output, or None if it has no clear batch and time axis."""
    if 0 not in call.shapes or 1 not in call.shapes:
        return None
    try:
        if 2 in call.shapes:
            return layout_from_shapes("", call.shapes[0], call.shapes[1], call.shapes[2], BATCH_SIZES[0])
        batch_axis = next((a for a, (p, q) in enumerate(zip(call.shapes[0], call.shapes[1], strict=True)) if p != q), 0)
        time_axis = None if call.reached is None else time_axis_by_spread("", call.reached, batch_axis)
    except ValueError:
        return None
    return None if time_axis is None else Layout(batch_axis, time_axis, len(call.shapes[0]))


def _layout_by_frames(name: str, shape: tuple[int, ...], batch_axis: int, frames: int) -> Layout | None:
    """The layout whose time axis is the one axis of ``shape`` with ``frames`` entries (None: no such axis).

    Raises:
        ValueError: naming the layer and the option, when several axes have that size.
    """
    axes = [axis for axis, size in enumerate(shape) if size == frames and axis != batch_axis]
    if len(axes) > 1:
        raise ValueError(
            f"cannot tell the time axis of {name!r}: axes {axes} of its output {shape} have the {frames} frames of "
            f"the module that feeds it; give channels_last={{{name!r}: True or False}}"
        )
    return Layout(batch_axis, axes[0], len(shape)) if axes else None


def _receptive_field_lines(
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


def _on_a_line(fields: tuple[list[int], list[tuple[int, int]]]) -> bool:
    frames, supports = fields
    return centre_line(frames, [lo + hi for lo, hi in supports]) is not None


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
    for step in dict.fromkeys([max(1, frames // 8), 1]):  # neighbours where the fields of frames // 8 apart do not fit
        fields = _fields_of(
            run, x, outputs, name, length, replicas, [frames // 2 - step, frames // 2, frames // 2 + step]
        )
        if fields is not None:
            return fields
    return None


def _fields_of(run, x, outputs, name, length, replicas, probed):
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
    run: ModelProbe, lines: dict[str, tuple[float, float] | None], length: int, feeders: dict[str, str]
) -> dict[str, AnyFrameMap]:
    """Add ``length_offset`` from the frame counts at several input lengths (none for a model of one
    length); a layer that sees the whole input takes its feeder's map."""
    if feeders:
        feeder_lines, length = _receptive_field_lines(run, sorted(set(feeders.values())), length)
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
