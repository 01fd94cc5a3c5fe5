"""The functional entry point: profiles of a model over batches, no Trainer needed."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_gradnap.config import (
    AnalysisOptions,
    BlankFrames,
    EngineOptions,
    LabelLevel,
    Method,
    Objective,
    Scale,
    WindowCenter,
)
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.profiles.groups import Groups
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.recording.batch import as_profile_batch
from lightning_gradnap.recording.frame_maps import FrameMapSpec

__all__ = ["compute_profiles"]


def compute_profiles(
    model: nn.Module,
    batches: Iterable[Any],
    layers: Sequence[str],
    num_groups: int,
    method: Method = "gradnap",
    objective: Objective | Callable[..., torch.Tensor] = "predicted_logit",
    absolute: bool = False,
    label_level: LabelLevel = "frame",
    window: int | None = None,
    window_center: WindowCenter = "segment",
    group_names: Sequence[str] | None = None,
    group_categories: Sequence[str] | None = None,
    weight_by_count: bool = False,
    scale: Scale | None = None,
    class_dim: int = 1,
    channels_last: bool = False,
    blank: int = 0,
    output_transform: Callable[[Any], torch.Tensor] | None = None,
    frame_maps: Mapping[str, FrameMapSpec] | None = None,
    label_rate: int = 1,
    split_by_correctness: bool = False,
    group_classes: Sequence[int | Sequence[int]] | None = None,
    blank_frames: BlankFrames = "segment",
    progress: bool = False,
) -> Profiles:
    """NAPs or GradNAPs of ``layers`` over ``batches`` (docs/METHOD.md §1).

    Each batch is a :class:`~lightning_gradnap.ProfileBatch`, a dict with its field names, or a
    tuple ``(inputs, labels[, lengths])``; it is read as a ``ProfileBatch`` once, as it enters.
    One forward and one backward pass per batch give the gradients of all layers; sums stream in
    float64 on the model's device. The model's train/eval mode is left as it is (call
    ``model.eval()`` first, as for any evaluation).

    The options are flat keywords here, for a call in a notebook; they are those of
    :class:`~lightning_gradnap.config.EngineOptions` (``method`` ... ``output_transform``, where each
    is documented and checked) and of :class:`~lightning_gradnap.config.AnalysisOptions`
    (``weight_by_count``, ``scale``).

    Args:
        model: Any ``nn.Module``; its output holds scores ``[B, K, T]`` or ``[B, K]``.
        batches: Iterable of batches (e.g. a ``DataLoader`` mapped to ``ProfileBatch``).
        layers: Module names from ``model.named_modules()``.
        num_groups: ``G``; labels lie in ``0 .. G-1`` (``-1`` = ignore).
        group_names: ``G`` names (default ``"0" .. "G-1"``).
        group_categories: ``G`` categories, or ``None``.
        frame_maps: Where layer frames sit on the input, by layer (``"<output>"``: the scores);
            layers not given are probed (see :class:`~lightning_gradnap.ProfileEngine`).
        label_rate: Input time steps per frame label (e.g. 160 for 10 ms labels of 16 kHz audio);
            lengths count input time steps.
        split_by_correctness: Split each group into ``"g correct"`` and ``"g wrong"`` (``2G`` groups) by
            the model's best class at each frame (docs/errors.md).
        group_classes: The model's output class (or classes) of each group, for ``split_by_correctness``.
        blank_frames: What a frame whose best class is the blank counts as, with ``split_by_correctness``.
        progress: Show a progress bar.

    Returns:
        :class:`~lightning_gradnap.Profiles`; groups without frames stay NaN and are reported
        with a warning.

    Raises:
        ValueError: for an option out of its range (the message names it and what it allows).

    Example:
        ```python
        profiles = compute_profiles(model, [(x, frame_labels)], layers=["conv1", "conv2"], num_groups=3)
        profiles["conv2"].profile  # [3, channels]
        ```
    """
    options = EngineOptions(
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
        label_rate=label_rate,
        split_by_correctness=split_by_correctness,
        group_classes=group_classes,
        blank_frames=blank_frames,
    )
    normalisation = AnalysisOptions(weight_by_count=weight_by_count, scale=scale)
    engine = ProfileEngine(layers, num_groups, options, frame_maps)
    recorder = engine.recorder(model)  # layer names are checked here, once
    if model.training:
        warnings.warn(
            "the model is in training mode (dropout on, batch-norm statistics updated): "
            "call model.eval() before profiling unless that is what you want",
            UserWarning,
            stacklevel=2,
        )
    for batch in _maybe_progress(batches, progress):
        engine.run_batch(model, as_profile_batch(batch), recorder=recorder)
    if split_by_correctness:
        names = list(group_names) if group_names is not None else [str(g) for g in range(num_groups)]
        split = Groups(names, None if group_categories is None else list(group_categories)).split_by_correctness()
        group_names, group_categories = split.names, split.categories
    profiles = engine.result(group_names, group_categories, normalisation.weight_by_count, normalisation.scale)
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
