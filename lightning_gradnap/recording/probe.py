"""Find each layer's :class:`~lightning_gradnap.recording.frame_maps.FrameMap` once, by probing the model.

The probe (:mod:`~lightning_gradnap.recording.probe_forward`) runs random inputs shaped like a batch's;
each layer's frames are then placed on the input from their receptive fields
(:mod:`~lightning_gradnap.recording.probe_fields`), the frame counts at several input lengths
(:mod:`~lightning_gradnap.recording.probe_counts`), and, for a layer that sees the whole input
(recurrent, attention), the local module that feeds it (:mod:`~lightning_gradnap.recording.probe_feeders`).

Probing runs the model in eval mode (the modes are restored), without touching parameters'
``.grad`` or the global random generators, with cuDNN off so that zero gradients stay exactly zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.frame_maps import IDENTITY, AnyFrameMap
from lightning_gradnap.recording.layouts import LayoutOverride
from lightning_gradnap.recording.probe_counts import with_frame_counts
from lightning_gradnap.recording.probe_feeders import find_feeders
from lightning_gradnap.recording.probe_fields import receptive_field_lines
from lightning_gradnap.recording.probe_forward import OUTPUT, ModelProbe, ProbeFailed, model_probe
from lightning_gradnap.recording.probe_trace import LocalStatistics, ModuleTrace

__all__ = ["OUTPUT", "find_frame_maps", "probe_frame_maps"]

FIRST_LENGTH = 64  # input frames of the first probe, where the model takes them (else the batch's length)


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
            lines, length = receptive_field_lines(run, [n for n in names if n in run.layouts], first)
            unlocal = [n for n, line in lines.items() if line is None] + timeless
            if unlocal and length != first:  # the feeders' fields fit where the local layers' do
                first, trace = length, ModuleTrace(model)
                outputs = run.find_layouts(length, trace)
            feeders = find_feeders(run, trace, unlocal, outputs, first)
            maps = with_frame_counts(run, {**lines, **dict.fromkeys(timeless)}, length, feeders)
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
    found = {} if found is None else found
    names = [name for name in [*layers, OUTPUT] if name not in given]
    if not names and isinstance(channels_last, bool):  # nothing to probe: the layouts are stated
        first = batch.input_tuple[0]
        found.update(layouts={}, input_time_axis=1 if channels_last else max(first.dim() - 1, 0))
        return dict(given)
    run = model_probe(model, batch, layers, channels_last, class_dim, output_transform, label_rate)
    if not names:  # the layouts still come from the probe: its first forwards only
        run.find_layouts(max(run.batch_length, 16))
        maps = dict(given)
    else:
        maps = {**probe_frame_maps(model, run, names), **given}
    found.update(layouts=dict(run.layouts), input_time_axis=run.time_axis)
    return maps


def _first_layouts(
    model: nn.Module, run: ModelProbe, names: Sequence[str]
) -> tuple[int, ModuleTrace, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
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
