"""The forward of a frame-map probe: random inputs shaped like a batch's, run through the model.

:func:`model_probe` makes the ``run`` that :func:`~lightning_gradnap.recording.probe.probe_frame_maps`
calls at several input lengths; it returns each profiled layer's output (and the model's scores)
with time last.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.hooks import ActivationRecorder

__all__ = ["OUTPUT", "ProbeRun", "model_probe"]

OUTPUT = "<output>"  # the model's scores, among the names probed
Outputs = dict[str, torch.Tensor]  # name -> [B, C, T] (time last)
ProbeRun = Callable[..., tuple[torch.Tensor, Outputs]]  # (frames, batch[, nan_frames]) -> (input leaf, outputs)


def model_probe(
    model: nn.Module,
    batch: ProfileBatch,
    layers: Sequence[str] | Mapping[str, nn.Module],
    channels_last: bool = False,
    class_dim: int = 1,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    label_rate: int = 1,
) -> ProbeRun:
    """The ``run`` of :func:`probe_frame_maps` for ``model``, with inputs shaped like ``batch``'s.

    The first input gets random values and the probe's length along its time axis (the last, or
    axis 1 with ``channels_last``); an input that *is* ``batch.lengths`` is set to that length;
    other inputs are repeated from the batch's first example. Outputs are the layers' (those
    with a time axis, made channels-first) and, with ``output_transform``, the scores as
    :data:`OUTPUT` when they have a time axis.
    """
    template = batch.input_tuple
    first = template[0]
    if not isinstance(first, torch.Tensor) or not first.is_floating_point() or first.dim() < 2:
        raise ValueError(
            "cannot probe where layer frames sit on the input: the first model input is not a floating "
            f"[B, ..., T] tensor; give frame_maps for {[*layers, OUTPUT]}"
        )
    time_axis = 1 if channels_last else first.dim() - 1
    labels = batch.labels
    if (
        isinstance(labels, torch.Tensor)
        and labels.dim() == 2
        and not covers(labels.shape[1], first.shape[time_axis], label_rate)
    ):
        raise ValueError(
            f"the frame labels have {labels.shape[1]} frames but the input's time axis (axis {time_axis} of "
            f"{tuple(first.shape)}) has {first.shape[time_axis]}: give one label per input frame"
            + ("" if label_rate == 1 else f" (label_rate={label_rate}: one per {label_rate} input steps)")
            + ("" if channels_last else "; if the input (and the layers) are [B, T, C], set channels_last=True")
        )
    recorder = ActivationRecorder(model, layers, keep_graph=True) if layers else contextlib.nullcontext()
    generator = torch.Generator().manual_seed(0)  # never the global generators

    def run(frames: int, batch_size: int, nan_frames: list[int] | None = None) -> tuple[torch.Tensor, Outputs]:
        shape = [batch_size, *first.shape[1:]]
        shape.pop(time_axis)
        x = torch.randn(*shape, frames, generator=generator).to(first.device, first.dtype)
        if nan_frames is not None:
            x[torch.arange(batch_size), ..., torch.tensor(nan_frames)] = float("nan")
        x.requires_grad_(nan_frames is None)
        lengths = torch.full((batch_size,), frames, device=first.device)
        others = [lengths if t is batch.lengths else _repeat_first(t, batch_size) for t in template[1:]]
        try:
            with recorder:
                output = model(x.movedim(-1, time_axis), *others)
        except Exception as error:
            raise RuntimeError(
                f"could not probe where the frames of {[*layers, OUTPUT]} sit: the model failed on a random input "
                f"with {frames} frames along axis {time_axis} ({type(error).__name__}: {error}). If the input is "
                "[B, T, F], set channels_last=True; or give frame_maps for every profiled layer and the output"
            ) from error
        activations = recorder.activations if isinstance(recorder, ActivationRecorder) else {}
        if isinstance(recorder, ActivationRecorder):
            recorder.check_called()
        outputs = {  # layers without a time axis need no map (the engine rejects them at frame level)
            name: a.transpose(1, 2) if channels_last else a for name, a in activations.items() if a.dim() == 3
        }
        scores = None if output_transform is None else output_transform(output)
        if isinstance(scores, torch.Tensor) and scores.dim() == 3:
            outputs[OUTPUT] = scores.movedim(class_dim, 1)
        return x, outputs

    return run


def covers(label_frames: int, input_steps: int, label_rate: int) -> bool:
    """Whether ``label_frames`` labels, one per ``label_rate`` steps, cover an input of ``input_steps``."""
    return label_frames in (input_steps // label_rate, -(-input_steps // label_rate))


def _repeat_first(value: object, batch_size: int) -> object:
    """A batch of ``batch_size`` copies of the first example of a tensor input (others as they are)."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    return value[:1].clone().repeat(batch_size, *[1] * (value.dim() - 1))
