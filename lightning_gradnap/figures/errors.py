"""The right/wrong view: the profiles of the most confused groups, right and wrong side by side
(``split_by_correctness``, docs/errors.md), built without pyplot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lightning_gradnap.figures.layout import _colourbar, _row_labels, _symmetric_limit
from lightning_gradnap.profiles.groups import SIDES
from lightning_gradnap.profiles.result import window_mean

__all__ = ["right_wrong_figure"]


def right_wrong_figure(
    profile: np.ndarray,
    counts: np.ndarray,
    group_names: Sequence[str],
    groups: Sequence[int],
    neuron_order: Sequence[int] | np.ndarray | None = None,
    title: str = "",
    group_categories: Sequence[str] | None = None,
    value_label: str = "profile (centred)",
) -> Figure:
    """For each of ``groups`` (indices before the split, e.g. the most confused first): its right and its wrong
    profile, one above the other, on the left; the difference wrong - right on the right, in the same colours.

    Args:
        profile: ``[2G, C]`` (or ``[2G, C, W]``, shown as its window mean) profile of the split groups.
        counts: ``[2G]`` frames of each split group, shown beside its row.
        group_names: The ``2G`` names of the split groups (``"aa correct"``, ``"aa wrong"``, ...).
        groups: The groups to show, top to bottom.
        neuron_order: Columns, e.g. the layer's clustered neuron order (default: neuron index).
        title: Above the figure.
        group_categories: ``2G`` categories, to colour the names.
        value_label: The colour bar's label.
    """
    matrix = window_mean(profile)
    columns = np.arange(matrix.shape[1]) if neuron_order is None else np.asarray(neuron_order, dtype=int)
    chosen = np.asarray(groups, dtype=int)
    pairs = np.stack([matrix[2 * chosen][:, columns], matrix[2 * chosen + 1][:, columns]], axis=1)  # [k, 2, C]
    difference = pairs[:, 1] - pairs[:, 0]
    limit = _symmetric_limit(np.concatenate([pairs.reshape(-1), difference.reshape(-1)]))
    rows = 3 * len(chosen) - 1  # right, wrong and a gap between groups
    stacked = np.full((rows, len(columns)), np.nan)
    stacked[0::3], stacked[1::3] = pairs[:, 0], pairs[:, 1]
    spaced = np.full((rows, len(columns)), np.nan)
    spaced[0::3] = spaced[1::3] = difference  # the difference beside both rows of its group
    width, height = 12.0, max(3.0, 0.17 * rows + 1.3)
    figure = Figure(figsize=(width, height))
    left, bottom, top, gap, right = 1.6, 0.55, 0.7, 0.5, 1.2
    panel = (width - left - gap - right) / 2
    box = (bottom / height, 1 - (bottom + top) / height)
    profiles_axes = figure.add_axes((left / width, box[0], panel / width, box[1]))
    difference_axes = figure.add_axes(((left + panel + gap) / width, box[0], panel / width, box[1]))
    style: dict[str, Any] = dict(aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    image = profiles_axes.imshow(stacked, **style)
    difference_axes.imshow(spaced, **style)
    shown = [2 * g + k for g in chosen for k in range(len(SIDES))]
    labels = [f"{name} ({int(count)})" for name, count in zip(group_names, counts, strict=True)]
    label_rows = np.array([3 * i + k for i in range(len(chosen)) for k in range(len(SIDES))])
    # every category in the colour table, so that each keeps the colour it has in the other views
    _row_labels(profiles_axes, label_rows, shown, labels, group_categories)
    difference_axes.set_yticks([])
    for axes, name in ((profiles_axes, "right and wrong"), (difference_axes, "wrong - right")):
        axes.set_xticks([])
        axes.set_xlabel(f"neurons ({len(columns)}{', clustered' if neuron_order is not None else ''})")
        axes.set_title(name, fontsize=10)
    figure.suptitle(title, fontsize=11, y=1 - 0.12 / height)
    _colourbar(figure, image, difference_axes, value_label, extend="both")
    return figure
