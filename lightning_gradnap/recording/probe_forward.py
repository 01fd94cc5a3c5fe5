"""The forward of a frame-map probe: random inputs shaped like a batch's, run through the model.

:func:`model_probe` makes the :class:`ModelProbe` that
:func:`~lightning_gradnap.recording.probe.probe_frame_maps` calls at several input lengths. The
input's own time axis is the one its frame labels cover (``label_rate`` input steps per label);
a layer's batch and time axes are the ones that follow the probe's batch size and length
(:mod:`~lightning_gradnap.recording.layouts`). Other inputs follow the probe: per-frame masks
``[B, T]`` (``attention_mask``) become all-valid, lengths (absolute, or relative in ``(0, 1]``)
the full probe length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.hooks import ActivationRecorder
from lightning_gradnap.recording.layouts import (
    CHANNELS_FIRST,
    CHANNELS_LAST,
    INPUT,
    Layout,
    LayoutOverride,
    layout_from_shapes,
    overridden,
    time_axis_by_spread,
)
from lightning_gradnap.recording.probe_trace import ModuleTrace

__all__ = ["OUTPUT", "ModelProbe", "ProbeRun", "covers", "model_probe"]

OUTPUT = "<output>"  # the model's scores, among the names probed
Outputs = dict[str, torch.Tensor]  # name -> [B, C, T] (time last)
ProbeRun = Callable[..., tuple[torch.Tensor, Outputs]]  # (frames, batch[, nan_frames]) -> (input leaf, outputs)
BATCH_SIZES = (2, 3)  # the probe's batch sizes: the axis that follows them is the batch


def model_probe(
    model: nn.Module,
    batch: ProfileBatch,
    layers: Sequence[str] | Mapping[str, nn.Module],
    channels_last: LayoutOverride = False,
    class_dim: int | None = 1,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    label_rate: int = 1,
) -> ModelProbe:
    """The ``run`` of :func:`probe_frame_maps` for ``model``, with inputs shaped like ``batch``'s."""
    return ModelProbe(model, batch, layers, channels_last, class_dim, output_transform, label_rate)


def covers(label_frames: int, input_steps: int, label_rate: int) -> bool:
    """Whether ``label_frames`` labels, one per ``label_rate`` steps, cover an input of ``input_steps``."""
    return label_frames in (input_steps // label_rate, -(-input_steps // label_rate))


def input_time_axis(first: torch.Tensor, labels: object, label_rate: int, option: bool | None) -> int:
    """The time axis of the first input: the one its frame labels cover (or the one ``channels_last`` says).

    Raises:
        ValueError: when no axis, or more than one, fits the labels (says which option to set).
    """
    if option is not None or not isinstance(labels, torch.Tensor) or labels.dim() != 2:
        axis = 1 if option else first.dim() - 1
        if (
            isinstance(labels, torch.Tensor)
            and labels.dim() == 2
            and not covers(labels.shape[1], first.shape[axis], label_rate)
        ):
            raise ValueError(
                f"the frame labels have {labels.shape[1]} frames but the input's time axis (axis {axis} of "
                f"{tuple(first.shape)}) has {first.shape[axis]}: give one label per input frame"
                + ("" if label_rate == 1 else f" (label_rate={label_rate}: one per {label_rate} input steps)")
                + (
                    ""
                    if option
                    else "; if the input (and the layers) are [B, T, C], set channels_last=True (or None: probed)"
                )
            )
        return axis
    candidates = [axis for axis in range(1, first.dim()) if covers(labels.shape[1], first.shape[axis], label_rate)]
    if len(candidates) == 1:
        return candidates[0]
    rate = f", one per {label_rate} input steps (label_rate)" if label_rate != 1 else ""
    which = "no axis" if not candidates else f"axes {candidates}"
    raise ValueError(
        f"the frame labels have {labels.shape[1]} frames{rate}, and {which} of the first input {tuple(first.shape)} "
        f"fit them: give one label per input frame (or set label_rate), or say where time is with "
        f"channels_last={{{INPUT!r}: True}} (axis 1) or {{{INPUT!r}: False}} (the last axis)"
    )


class ProbeFailed(RuntimeError):
    """The model failed on a probe's random input."""


class ModelProbe:
    """Random inputs shaped like ``batch``'s, through ``model``: ``probe(frames, batch_size, nan_frames=None)``
    builds a random input leaf ``[B, ..., frames]`` (time last; NaN at frame ``nan_frames[b]`` of example
    ``b`` if given, else requiring grad), runs the model and returns it with each name's output as
    ``[B, C, T]``, read through the layouts of :meth:`find_layouts`."""

    def __init__(
        self,
        model: nn.Module,
        batch: ProfileBatch,
        layers: Sequence[str] | Mapping[str, nn.Module],
        channels_last: LayoutOverride,
        class_dim: int | None,
        output_transform: Callable[[Any], torch.Tensor] | None,
        label_rate: int,
    ) -> None:
        self.model, self.batch, self.names = model, batch, [*layers, OUTPUT]
        self.template = batch.input_tuple
        first = self.template[0]
        if not isinstance(first, torch.Tensor) or first.dim() < 2 or first.is_complex() or first.dtype == torch.bool:
            raise ValueError(
                "cannot probe where layer frames sit on the input: the first model input is not a floating "
                f"[B, ..., T] tensor (or integer tokens [B, T]); give frame_maps for {self.names}"
            )
        self.tokens = not first.is_floating_point()  # e.g. BERT's input_ids: every layer keeps their frames
        self.first, self.channels_last, self.class_dim = first, channels_last, class_dim
        self.time_axis = input_time_axis(first, batch.labels, label_rate, overridden(channels_last, INPUT))
        self.batch_length = first.shape[self.time_axis]
        self.modules = dict(layers) if isinstance(layers, Mapping) else None
        self.recorder = ActivationRecorder(model, layers, keep_graph=True) if layers else None
        self.output_transform = output_transform
        self.generator = torch.Generator().manual_seed(0)  # never the global generators
        self.layouts: dict[str, Layout] = {}
        self.timeless: dict[str, int] = {}  # a model of one length: batch axis of outputs a NaN fills entirely
        self.accepts_other_lengths = True

    def add_layers(self, modules: Mapping[str, nn.Module]) -> None:
        """Record these modules too (e.g. the local modules that feed a layer that sees the whole input)."""
        known = self.recorder.modules if self.recorder is not None else {}
        self.recorder = ActivationRecorder(self.model, {**known, **modules}, keep_graph=True)

    # ---------------------------------------------------------------- inputs
    def _input(self, frames: int, batch_size: int, nan_frames: list[int] | None) -> torch.Tensor:
        shape = [batch_size, *self.first.shape[1:]]
        shape.pop(self.time_axis)
        if self.tokens:  # tokens drawn from the batch's own (an embedding takes any of them)
            pool = self.first.flatten()
            drawn = torch.randint(0, pool.numel(), (*shape, frames), generator=self.generator)
            return pool[drawn.to(pool.device)]
        x = torch.randn(*shape, frames, generator=self.generator).to(self.first.device, self.first.dtype)
        if nan_frames is not None:
            x[torch.arange(batch_size), ..., torch.tensor(nan_frames)] = float("nan")
        return x.requires_grad_(nan_frames is None)

    def _other_input(self, value: object, frames: int, batch_size: int) -> object:
        """Lengths as the full probe length, per-frame masks all valid, other tensors from the first example."""
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            return value
        examples = self.first.shape[0]
        if (
            value.dim() == 1
            and value.shape[0] == examples
            and (value is self.batch.lengths or self._looks_like_lengths(value))
        ):
            full = 1.0 if value.is_floating_point() and float(value.max()) <= 1 else frames
            return torch.full((batch_size,), full, dtype=value.dtype, device=value.device)
        if value.dim() == 2 and value.shape == (examples, self.batch_length):
            return torch.ones(batch_size, frames, dtype=value.dtype, device=value.device)
        return value[:1].clone().repeat(batch_size, *[1] * (value.dim() - 1))

    def _looks_like_lengths(self, value: torch.Tensor) -> bool:
        if value.is_floating_point():
            return bool((value > 0).all() and value.max() == 1)  # relative lengths (SpeechBrain's wav_lens)
        return bool((value >= 0).all() and value.max() == self.batch_length)

    # ---------------------------------------------------------------- forwards
    def raw(
        self, frames: int, batch_size: int, nan_frames: list[int] | None = None, trace: ModuleTrace | None = None
    ) -> tuple[torch.Tensor, Outputs]:
        """The input leaf (time last) and each name's output as the model gives it."""
        x = self._input(frames, batch_size, nan_frames)
        others = [self._other_input(t, frames, batch_size) for t in self.template[1:]]
        recorder = self.recorder if self.recorder is not None else contextlib.nullcontext()
        try:
            with recorder, trace if trace is not None else contextlib.nullcontext():
                output = self.model(x.movedim(-1, self.time_axis), *others)
        except Exception as error:
            raise self.failure(frames, error) from error
        outputs: Outputs = {}
        if self.recorder is not None:
            self.recorder.check_called()
            outputs.update(self.recorder.activations)
        scores = None if self.output_transform is None else self.output_transform(output)
        if isinstance(scores, torch.Tensor) and scores.dim() >= 2:
            outputs[OUTPUT] = scores
        return x, outputs

    def failure(self, frames: int, error: Exception) -> ProbeFailed:
        return ProbeFailed(
            f"could not probe where the frames of {self.names} sit: the model failed on a random input "
            f"with {frames} frames along axis {self.time_axis} ({type(error).__name__}: {error}). Set "
            "channels_last={'<input>': ...} if the input's time axis is elsewhere; or give frame_maps for every "
            "profiled layer and the output"
        )

    def __call__(
        self, frames: int, batch_size: int, nan_frames: list[int] | None = None
    ) -> tuple[torch.Tensor, Outputs]:
        x, outputs = self.raw(frames, batch_size, nan_frames)
        return x, {name: self.layouts[name].to_bct(a) for name, a in outputs.items() if name in self.layouts}

    # ---------------------------------------------------------------- layouts
    def find_layouts(
        self, length: int, trace: ModuleTrace | None = None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each name's layout from forwards at two batch sizes and lengths ``length`` and ``2 * length``
        (the time axis of a model that takes one length only: from where a NaN goes).

        Returns the outputs at ``length`` and ``2 * length`` (empty if the model rejects it), by name,
        for callers that look further (the frame counts of layers that see the whole input).
        """
        small, large = BATCH_SIZES
        _, base = self.raw(length, small, trace=trace)
        _, more = self.raw(length, large, trace=trace)
        try:
            with torch.no_grad():
                _, longer = self.raw(2 * length, small, trace=trace)
        except ProbeFailed:  # a model of one input length (Whisper's encoder)
            longer, self.accepts_other_lengths = {}, False
        spread: Outputs = {}
        if not self.accepts_other_lengths:
            with torch.no_grad():
                _, spread = self.raw(length, small, [length // 2] * small)
        for name, output in base.items():
            layout = self._layout(name, output, more.get(name), longer.get(name), spread.get(name))
            if layout is not None:
                self.layouts[name] = layout
            elif name in more and output.dim() >= 3 and not self.accepts_other_lengths:
                self.timeless[name] = _batch_axis(tuple(output.shape), tuple(more[name].shape))
        return {name: (base[name], longer.get(name, base[name])) for name in base}

    def _layout(self, name: str, output: torch.Tensor, more, longer, spread) -> Layout | None:
        shape = tuple(output.shape)
        option = overridden(self.channels_last, name) if name != OUTPUT else None
        if name == OUTPUT and self.class_dim is not None:
            if output.dim() != 3:
                return None
            return Layout(0, 3 - (self.class_dim % 3), 3)  # classes on the other non-batch axis
        if option is not None:  # stated by the user: the old contract, [B, C, T] or [B, T, C]
            if output.dim() != 3:
                return None
            layout = CHANNELS_LAST if option else CHANNELS_FIRST
            if longer is not None and longer.shape[layout.time_axis] == shape[layout.time_axis]:
                raise ValueError(
                    f"the time axis of {name!r} (size {shape[layout.time_axis]}) does not follow the input's length: "
                    "if its output is [B, T, C], set channels_last=True (for the model's scores [B, T, K]: "
                    "class_dim=-1), or channels_last=None to find each layer's layout by probing"
                )
            return layout
        other_batch = None if more is None else tuple(more.shape)
        if longer is not None or self.accepts_other_lengths:
            other_length = None if longer is None else tuple(longer.shape)
            return layout_from_shapes(name, shape, other_batch, other_length, BATCH_SIZES[0])
        layout_from_shapes(name, shape, other_batch, None, BATCH_SIZES[0])  # checks the batch axis
        batch_axis = 0 if other_batch is None else _batch_axis(shape, other_batch)
        time_axis = time_axis_by_spread(name, spread, batch_axis) if spread is not None else None
        return None if time_axis is None else Layout(batch_axis, time_axis, len(shape))


def _batch_axis(shape: tuple[int, ...], other_batch: tuple[int, ...]) -> int:
    return next((a for a, (p, q) in enumerate(zip(shape, other_batch, strict=True)) if p != q), 0)
