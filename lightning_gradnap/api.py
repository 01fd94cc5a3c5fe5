"""The functional entry point: profiles of a model over batches, no Trainer needed."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.recording.frame_maps import FrameMapSpec

__all__ = ["compute_profiles"]


def compute_profiles(
    model: nn.Module,
    batches: Iterable[Any],
    layers: Sequence[str],
    num_groups: int,
    method: str = "gradnap",
    objective: str | Callable[..., torch.Tensor] = "predicted_logit",
    absolute: bool = False,
    label_level: str = "frame",
    window: int | None = None,
    window_center: str = "segment",
    group_names: Sequence[str] | None = None,
    group_categories: Sequence[str] | None = None,
    weight_by_count: bool = False,
    scale: str | None = None,
    class_dim: int = 1,
    channels_last: bool = False,
    blank: int = 0,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    frame_maps: Mapping[str, FrameMapSpec] | None = None,
    label_rate: int = 1,
    progress: bool = False,
) -> Profiles:
    """NAPs or GradNAPs of ``layers`` over ``batches`` (docs/METHOD.md §1).

    Each batch is a :class:`~lightning_gradnap.ProfileBatch`, a dict with its field names, or a
    tuple ``(inputs, labels[, lengths])``. One forward and one backward pass per batch give the
    gradients of all layers; sums stream in float64 on the model's device. The model's
    train/eval mode is left as it is (call ``model.eval()`` first, as for any evaluation).

    Args:
        model: Any ``nn.Module``; its output holds scores ``[B, K, T]`` or ``[B, K]``.
        batches: Iterable of batches (e.g. a ``DataLoader`` mapped to ``ProfileBatch``).
        layers: Module names from ``model.named_modules()``.
        num_groups: ``G``; labels lie in ``0 .. G-1`` (``-1`` = ignore).
        method: ``"gradnap"`` or ``"nap"``.
        objective: ``"predicted_logit"`` (default), ``"predicted_logprob"``,
            ``"target_logprob"``, ``"ctc"``, or a callable ``(scores, ObjectiveInputs) -> scalar``.
        absolute: Profile ``|a * g|`` (``|a|`` for NAPs).
        label_level: ``"frame"`` or ``"utterance"``.
        window: Time-resolved profiles of ``window`` layer frames per labelled segment.
        window_center: ``"segment"`` or ``"salient"``.
        group_names: ``G`` names (default ``"0" .. "G-1"``).
        group_categories: ``G`` categories, or ``None``.
        weight_by_count: Count-weighted centring.
        scale: ``None`` or ``"std"``.
        class_dim: Axis of the classes in the scores.
        channels_last: Layer outputs are ``[B, T, C]``.
        blank: CTC blank index.
        output_transform: Picks the scores from the model's output.
        frame_maps: Where layer frames sit on the input, by layer (``"<output>"``: the scores);
            layers not given are probed (see :class:`~lightning_gradnap.ProfileEngine`).
        label_rate: Input time steps per frame label (e.g. 160 for 10 ms labels of 16 kHz audio);
            lengths count input time steps.
        progress: Show a progress bar.

    Returns:
        :class:`~lightning_gradnap.Profiles`; groups without frames stay NaN and are reported
        with a warning.

    Example::

        profiles = compute_profiles(model, [(x, frame_labels)], layers=["conv1", "conv2"], num_groups=3)
        profiles["conv2"].profile  # [3, channels]
    """
    engine = ProfileEngine(
        layers,
        num_groups,
        method=method,
        objective=objective,
        absolute=absolute,
        label_level=label_level,
        window=window,
        window_center=window_center,
        class_dim=class_dim,
        channels_last=channels_last,
        blank=blank,
        output_transform=output_transform,
        frame_maps=frame_maps,
        label_rate=label_rate,
    )
    recorder = engine.recorder(model)  # layer names are checked here, once
    if model.training:
        warnings.warn(
            "the model is in training mode (dropout on, batch-norm statistics updated): "
            "call model.eval() before profiling unless that is what you want",
            UserWarning,
            stacklevel=2,
        )
    for batch in _maybe_progress(batches, progress):
        engine.run_batch(model, batch, recorder=recorder)
    profiles = engine.result(group_names, group_categories, weight_by_count, scale)
    absent = profiles.absent_groups()
    if absent:
        warnings.warn(
            f"{len(absent)} of {profiles.num_groups} groups have no frames in at least one layer and "
            f"stay NaN: {absent[:20]}{' ...' if len(absent) > 20 else ''}",
            UserWarning,
            stacklevel=2,
        )
    return profiles


def _maybe_progress(batches: Iterable[Any], progress: bool) -> Iterable[Any]:
    if not progress:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc="profiling", unit="batch")
