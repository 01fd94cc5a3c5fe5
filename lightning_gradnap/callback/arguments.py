"""The callback's flat, typed arguments (as LightningCLI reads them) turned into the options objects
of the stages below: :class:`~lightning_gradnap.config.EngineOptions` and the frame maps (the
callback builds :class:`~lightning_gradnap.config.ViewOptions` and ``AnalysisOptions`` directly)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import torch

from lightning_gradnap import config
from lightning_gradnap.config import EngineOptions, resolve_callable
from lightning_gradnap.recording.frame_maps import AnyFrameMap, FrameMapSpec, as_frame_map

__all__ = ["callback_engine_options", "callback_frame_maps", "state_key_options"]


def callback_engine_options(
    *,
    method: config.Method | list[config.Method],
    objective: config.Objective,
    absolute: bool,
    label_level: config.LabelLevel,
    window: int | None,
    window_center: config.WindowCenter,
    class_dim: int | None,
    channels_last: bool | dict[str, bool] | None,
    output_transform: str | Callable[[Any], torch.Tensor] | None,
    label_rate: int,
    feature_window: int,
    views: Collection[str],
    split_by_correctness: bool = False,
    group_classes: list[int | list[int]] | None = None,
    blank_frames: config.BlankFrames = "segment",
) -> EngineOptions:
    """The engine's options from the callback's arguments of the same names (``output_transform`` may be a
    dotted path); the input views (``input_window``) where ``views`` draws ``"features"`` of frame labels.

    Raises:
        ValueError: for an option outside its allowed values, or an unimportable path.
    """
    return EngineOptions(
        method=method,
        objective=objective,
        absolute=absolute,
        label_level=label_level,
        window=window,
        window_center=window_center,
        class_dim=class_dim,
        channels_last=channels_last,
        output_transform=resolve_callable(output_transform, "output_transform"),
        input_window=feature_window if "features" in views and label_level == "frame" else None,
        label_rate=label_rate,
        skip_failing_input_views=True,  # a view that cannot be drawn is left out, never aborts fit
        split_by_correctness=split_by_correctness,
        group_classes=group_classes,
        blank_frames=blank_frames,
    )


def callback_frame_maps(frame_maps: Mapping[str, FrameMapSpec] | None) -> dict[str, AnyFrameMap]:
    """The ``frame_maps`` argument checked now, by layer (:func:`~lightning_gradnap.recording.frame_maps.as_frame_map`:
    ``[stride, offset[, length_offset]]``, a :class:`~lightning_gradnap.FrameMap` or a callable)."""
    return {name: as_frame_map(name, spec) for name, spec in (frame_maps or {}).items()}


def state_key_options(engine_options: dict[str, Any]) -> dict[str, Any]:
    """The engine options that name the callback's state in a checkpoint (not the layers: a run resumed with other
    layers keeps the history of those it still profiles); ``method`` as given (a string or a list)."""
    kept = {k: engine_options[k] for k in ("method", "objective", "absolute", "label_level", "window")}
    kept["method"] = kept["method"] if isinstance(kept["method"], str) else list(kept["method"])
    if engine_options.get("split_by_correctness"):  # 2G groups: a history of its own (older keys unchanged)
        kept["split_by_correctness"] = True
    return kept
