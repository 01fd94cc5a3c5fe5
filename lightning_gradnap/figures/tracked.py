"""Figures of the views watched over steps (docs/METHOD.md §2): tracked heatmaps and emergence maps.

Built without pyplot's global state, like :mod:`lightning_gradnap.figures.plots`. A tracked heatmap
shows a profile divided by its RMS with fixed colour limits, in given (held) row and column
orders; :func:`tracked_heatmap_panels` puts several steps side by side; :func:`emergence_figure`
shows one score of every layer over the profiling steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lightning_gradnap.analysis.tracking import TRACKED_LIMIT, unit_rms
from lightning_gradnap.figures.canvas import BlitFrames
from lightning_gradnap.figures.layout import _axes_inches, _colourbar, _fixed_figure, _row_labels
from lightning_gradnap.profiles.result import window_mean

__all__ = ["LayerFrames", "emergence_figure", "rms_title", "scaled_matrix", "tracked_heatmap", "tracked_heatmap_panels"]

_DIVERGING = colormaps["RdBu_r"].with_extremes(bad="#e4e4e4")  # absent groups: light grey rows
_SEQUENTIAL = colormaps["viridis"].with_extremes(bad="#e4e4e4")


def scaled_matrix(
    profile: np.ndarray, group_order: Sequence[int] | np.ndarray, neuron_order: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, float]:
    """``(cells, rms)``: the (window-averaged) profile divided by its RMS, in the given orders."""
    scaled, rms = unit_rms(window_mean(profile))
    return scaled[np.asarray(group_order, dtype=int)][:, np.asarray(neuron_order, dtype=int)], rms


def _draw(
    axes, data: np.ndarray, groups: Sequence[int] | np.ndarray, categories: Sequence[str] | None, separators: bool
):
    image = axes.imshow(
        data, aspect="auto", cmap=_DIVERGING, vmin=-TRACKED_LIMIT, vmax=TRACKED_LIMIT, interpolation="nearest"
    )
    if separators and categories is not None:
        for row in range(1, len(groups)):
            if categories[groups[row]] != categories[groups[row - 1]]:
                axes.axhline(row - 0.5, color="#444444", linewidth=0.6)
    axes.set_xticks([])
    return image


def rms_title(title: str, rms: float) -> str:
    """The title of a tracked heatmap, with the RMS its colours are in units of."""
    return f"{title}   (RMS {rms:.3g})" if title else f"RMS {rms:.3g}"


def _height(rows: int) -> float:
    return max(3.5, 0.16 * rows + 1.6)


def tracked_heatmap(
    profile: np.ndarray,
    group_names: Sequence[str],
    group_order: Sequence[int] | np.ndarray,
    neuron_order: Sequence[int] | np.ndarray,
    title: str = "",
    group_categories: Sequence[str] | None = None,
    value_label: str = "profile",
    rows_label: str = "groups, by category",
    columns_label: str = "",
    separators: bool = True,
) -> Figure:
    """Groups x neurons in held orders, the profile divided by its RMS, colours fixed at
    ``±TRACKED_LIMIT`` (values beyond are clipped); the RMS is printed after the title.

    Args:
        profile: ``[G, C]`` (or ``[G, C, W]``, averaged over the window); NaN rows (absent
            groups) are drawn light grey, so that rows never move.
        group_order: Row order (every group that should have a row).
        neuron_order: Column order.
        rows_label, columns_label: Say what the orders are (e.g. when the neurons were anchored).
        separators: Lines between categories (for rows grouped by category).
    """
    data, rms = scaled_matrix(profile, group_order, neuron_order)
    figure, axes = _fixed_figure(10, _height(len(data)), left=0.8, bottom=0.6, right=1.35, top=0.4)
    image = _draw(axes, data, group_order, group_categories, separators)
    _row_labels(axes, np.arange(len(data)), group_order, group_names, group_categories)
    axes.set_xlabel(columns_label or f"neurons ({len(neuron_order)})")
    axes.set_ylabel(rows_label)
    axes.yaxis.set_label_coords(-0.65 / _axes_inches(axes)[0], 0.5)  # left of the group names
    axes.set_title(rms_title(title, rms))
    _colourbar(figure, image, axes, f"{value_label} / RMS", extend="both")
    return figure


def tracked_heatmap_panels(
    profiles: Sequence[np.ndarray],
    group_names: Sequence[str],
    group_order: Sequence[int] | np.ndarray,
    neuron_order: Sequence[int] | np.ndarray,
    titles: Sequence[str],
    group_categories: Sequence[str] | None = None,
    value_label: str = "profile",
    suptitle: str = "",
    columns_label: str = "",
    separators: bool = True,
) -> Figure:
    """Several steps of one layer side by side, in the same held orders and colour scale (each
    panel divided by its own RMS, printed in its title); group names left of the first panel."""
    count = len(profiles)
    panel, gap, left, right = 3.3, 0.2, 0.9, 1.0
    width, height = left + count * panel + (count - 1) * gap + right, _height(len(group_order)) + 0.3
    figure = Figure(figsize=(width, height))
    image = None
    for index, profile in enumerate(profiles):
        data, rms = scaled_matrix(profile, group_order, neuron_order)
        x0 = left + index * (panel + gap)
        axes = figure.add_axes((x0 / width, 0.6 / height, panel / width, (height - 1.35) / height))
        image = _draw(axes, data, group_order, group_categories, separators)
        axes.set_yticks([])
        axes.set_title(f"{titles[index]}\nRMS {rms:.3g}", fontsize=9)
        axes.set_xlabel(columns_label or f"neurons ({len(neuron_order)})", fontsize=8)
        if index == 0:
            _row_labels(axes, np.arange(len(data)), group_order, group_names, group_categories)
    if image is not None:
        _colourbar(figure, image, axes, f"{value_label} / RMS", extend="both")
    figure.suptitle(suptitle, fontsize=11)
    return figure


class LayerFrames:
    """One layer's tracked heatmap in fixed orders, drawn once and then redrawn step by step:
    only the cells, the frame and the title are drawn again, over the saved rest (blitting).
    A frame is pixel for pixel a new :func:`tracked_heatmap`, several times cheaper.

    Args:
        profile: A profile of the layer (any step) to lay the figure out with.
        group_order, neuron_order: The fixed row and column orders.
        **heatmap: Further arguments of :func:`~lightning_gradnap.figures.tracked.tracked_heatmap`.
    """

    def __init__(
        self,
        profile: np.ndarray,
        group_names: Sequence[str],
        group_order: Sequence[int] | np.ndarray,
        neuron_order: Sequence[int] | np.ndarray,
        **heatmap: Any,
    ) -> None:
        self.orders = (group_order, neuron_order)
        self.figure = tracked_heatmap(profile, group_names, group_order, neuron_order, **heatmap)
        axes = self.figure.axes[0]
        self.image, self.title = axes.images[0], axes.title
        changing = [self.image, *axes.lines, *axes.spines.values(), self.title]
        changing.sort(key=lambda artist: artist.get_zorder())  # the axes' drawing order
        self.frames = BlitFrames(self.figure, changing)

    def frame(self, profile: np.ndarray, title: str) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB of ``profile`` in the fixed orders, titled ``title`` (and its RMS)."""
        cells, rms = scaled_matrix(profile, *self.orders)
        self.image.set_data(np.ma.masked_invalid(cells))
        self.title.set_text(rms_title(title, rms))
        return self.frames.draw()


def emergence_figure(
    values: np.ndarray,
    layers: Sequence[str],
    steps: Sequence[int],
    metric: str,
    title: str = "",
    chance: float | None = None,
) -> Figure:
    """One score of every layer (rows, first layer on top) at every profiling step (columns).

    The latest values are printed right of the last column; NaN cells (no value) are grey.
    ``chance``, if given, is printed with the colour bar.
    """
    layer_count, step_count = values.shape
    width = 1.9 + max(3.0, 0.42 * step_count) + 1.7
    figure, axes = _fixed_figure(width, 0.3 * layer_count + 1.3, left=1.9, bottom=0.6, right=1.7, top=0.45)
    finite = values[np.isfinite(values)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(float(finite.max()), low + 1e-6) if finite.size else 1.0
    image = axes.imshow(values, aspect="auto", cmap=_SEQUENTIAL, vmin=low, vmax=high, interpolation="nearest")
    # Labels as plain text, not ticks: this map is redrawn at every profiling and ticks cost several times more.
    axes.set_xticks([])
    axes.set_yticks([])
    by_row, by_column = axes.get_yaxis_transform(), axes.get_xaxis_transform()
    for row, layer in enumerate(layers):
        axes.text(-0.01, row, layer, transform=by_row, ha="right", va="center", fontsize=8)
    for column in range(0, step_count, max(1, int(np.ceil(step_count / 10)))):
        axes.text(column, -0.02, str(steps[column]), transform=by_column, ha="center", va="top", fontsize=8)
    axes.set_xlabel("step", labelpad=14)
    for row, value in enumerate(values[:, -1] if step_count else []):
        if np.isfinite(value):
            axes.text(1.01, row, f"{value:.2f}", transform=by_row, va="center", fontsize=7)
    label = metric if chance is None else f"{metric} (chance {chance:.2f})"
    x0, y0, w, h = axes.get_position().bounds
    bar = figure.add_axes((x0 + w + 0.55 / width, y0 + 0.1 * h, 0.15 / width, 0.8 * h))
    figure.colorbar(image, cax=bar).set_label(label)
    axes.set_title(title or f"{metric}: layers x profiling steps")
    return figure
