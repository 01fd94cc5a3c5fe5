"""The feature view's sums of one batch: the model input cut into windows around the labels
(``input_window``), or left out, with a warning, where it cannot be."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch

from lightning_gradnap.config import EngineOptions
from lightning_gradnap.engine.folds import BatchSums, FoldBatch, InputWindowFold
from lightning_gradnap.engine.group_sums import GroupSums
from lightning_gradnap.recording.layouts import Layout

__all__ = ["input_view_sums"]


def input_view_sums(
    fold: InputWindowFold,
    inputs: torch.Tensor,
    gradient: torch.Tensor | None,
    fold_batch: FoldBatch,
    sums: Mapping[str, GroupSums],
    input_time_axis: int | None,
    options: EngineOptions,
) -> BatchSums | None:
    """The feature view's sums of this batch: the input as ``[B, F, T]`` (its time axis last, other axes
    folded into F); where it cannot be cut into windows (labels at another rate than the input, a
    shape it cannot take), ``None``: the view is left out from now on, with a warning that names it.

    Args:
        fold: The engine's input fold.
        inputs: The model input of the batch.
        gradient: Its gradient (for ``x * dy/dx``), or ``None``.
        fold_batch: The batch's labels and lengths, as the folds take them.
        sums: The input views' sums so far.
        input_time_axis: The input's time axis found by probing (default: its last).
        options: The engine's options (``label_rate``, ``skip_failing_input_views``).

    Raises:
        ValueError: where the view cannot be cut and ``skip_failing_input_views`` is False.
    """
    axis = inputs.dim() - 1 if input_time_axis is None else input_time_axis
    layout = Layout(0, axis, inputs.dim()) if inputs.dim() > 2 else Layout(0, 2, 3)
    if inputs.dim() == 2:  # a waveform: one feature
        inputs, gradient = inputs[:, None], None if gradient is None else gradient[:, None]
    inputs, gradient = layout.to_bct(inputs), None if gradient is None else layout.to_bct(gradient)
    try:
        if not inputs.is_floating_point():
            raise ValueError("the input holds integer tokens, which have no features to average")
        if options.label_rate != 1:
            raise ValueError(
                f"input windows need one label per input frame, but labels come one per {options.label_rate} "
                "input steps (label_rate): set input_window=None (GradNAPCallback: leave 'features' out of `views`)"
            )
        views = fold.views(inputs, gradient)
        return fold.batch_sums(views, fold_batch, sums)
    except ValueError as error:
        if not options.skip_failing_input_views:
            raise
        warnings.warn(  # from the engine's accumulate: points at its caller, as before the split
            f"the 'features' view (input windows) is left out: {error}. Leave 'features' out of the callback's "
            "`views` (ProfileEngine: input_window=None) to silence this",
            UserWarning,
            stacklevel=3,
        )
        return None
