"""The feeders of layers that see the whole input (recurrent, attention): the local module run last before each.

Such a layer's frames take its feeder's frame map. Part of
:func:`~lightning_gradnap.recording.probe.probe_frame_maps`.
"""

from __future__ import annotations

import torch

from lightning_gradnap.recording.layouts import Layout, layout_from_shapes, time_axis_by_spread
from lightning_gradnap.recording.probe_forward import BATCH_SIZES, ModelProbe
from lightning_gradnap.recording.probe_trace import ModuleTrace, TracedCall

__all__ = ["find_feeders"]


def find_feeders(
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
            elif counts != frames:
                continue
            if layout is None:  # no axis with the feeder's frames (a layout, if given, always has one)
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


def _traced_layout(run: ModelProbe, call: TracedCall) -> Layout | None:
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
