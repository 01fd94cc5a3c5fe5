"""What every figure shares: fixed-size figures, colour bars, category colours, row labels, rendering.

Figures are built without pyplot's global state; :func:`figure_to_array` renders one with the Agg
canvas of :mod:`~lightning_gradnap.figures.canvas` (each distinct text drawn once), :func:`save_figure`
writes a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from lightning_gradnap.figures.canvas import CachingCanvas

__all__ = ["category_colours", "figure_to_array", "save_figure"]

_PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def category_colours(categories: Sequence[str] | None) -> dict[str, str]:
    """A stable colour per category, in order of first appearance."""
    unique = list(dict.fromkeys(categories or []))
    return {category: _PALETTE[i % len(_PALETTE)] for i, category in enumerate(unique)}


def _fixed_figure(width: float, height: float, left: float, bottom: float, right: float, top: float):
    """A figure with one axes placed by margins in inches (much faster to draw than a layout engine)."""
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((left / width, bottom / height, 1 - (left + right) / width, 1 - (bottom + top) / height))
    return figure, axes


def _axes_inches(axes) -> tuple[float, float]:
    """Width and height of ``axes`` in inches."""
    _, _, width, height = axes.get_position().bounds
    return width * axes.figure.get_figwidth(), height * axes.figure.get_figheight()


def _colourbar(figure: Figure, image, axes, label: str, extend: str = "neither") -> None:
    """A colour bar in a slim axes right of ``axes``."""
    x0, y0, width, height = axes.get_position().bounds
    gap, bar = 0.15 / figure.get_figwidth(), 0.18 / figure.get_figwidth()
    colourbar = figure.colorbar(
        image, cax=figure.add_axes((x0 + width + gap, y0 + 0.1 * height, bar, 0.8 * height)), extend=extend
    )
    colourbar.set_label(label)


def figure_to_array(figure: Figure) -> np.ndarray:
    """Render to an ``[H, W, 3]`` uint8 RGB array (for ``SummaryWriter.add_image(..., dataformats="HWC")``)."""
    canvas = CachingCanvas(figure)  # texts drawn before are composited, not laid out again
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    CachingCanvas(figure)
    figure.savefig(path, dpi=dpi)


def _symmetric_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        return 1.0
    limit = float(np.percentile(finite, 99))  # robust to a few extreme neurons
    return limit if limit > 0 else float(finite.max()) or 1.0


def _label_size(count: int) -> float:
    return 9 if count <= 25 else 7 if count <= 50 else 5


def _row_labels(
    axes,
    rows: Sequence[float] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    group_names: Sequence[str],
    group_categories: Sequence[str] | None,
    side: str = "left",
) -> None:
    """Group names beside the axes at data heights ``rows``, coloured by category.

    Plain text, not tick labels: a figure per layer and step names every group, and tick
    objects cost about three times as much to draw.
    """
    colours = category_colours(group_categories)
    transform = axes.get_yaxis_transform()  # x in axes fractions, y in data
    x, align = (-0.01, "right") if side == "left" else (1.01, "left")
    for row, g in zip(rows, groups, strict=True):
        colour = colours[group_categories[g]] if group_categories else "black"
        axes.text(
            x,
            row,
            group_names[g],
            transform=transform,
            ha=align,
            va="center",
            fontsize=_label_size(len(groups)),
            color=colour,
        )
    axes.set_yticks([])
