"""Topographic activation maps of one layer: one small map per group, in the tracked heatmap's colours.

Built without pyplot, like :mod:`lightning_gradnap.figures.plots`. The maps
(:func:`~lightning_gradnap.analysis.topomap_scores.grid_maps`) are tiled into **one** image (a grey
gap between tiles, absent groups grey), so that a figure of 40 groups is one ``imshow`` and 40
names, not 40 axes: it draws in a fraction of the time. Tiles follow the tracked heatmap's rows
(by category, :func:`~lightning_gradnap.analysis.tracking.category_order`), names coloured by
category; colours are the profile over its RMS with fixed limits (``±TRACKED_LIMIT``), as in the
tracked heatmap, so that they compare across steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lightning_gradnap.analysis.topomap_scores import GRID, grid_maps, painter
from lightning_gradnap.analysis.tracking import TRACKED_LIMIT, category_order, unit_rms
from lightning_gradnap.figures.canvas import BlitFrames
from lightning_gradnap.figures.layout import _colourbar, category_colours
from lightning_gradnap.profiles.result import window_mean

__all__ = ["TopomapFrames", "map_mosaic", "topomap_figure"]

_DIVERGING = colormaps["RdBu_r"].with_extremes(bad="#e4e4e4")  # gaps and absent groups: light grey
#: Pixels between two tiles of the mosaic, side by side and (room for the names) one above the other.
GAP, ROW_GAP = 4, 9


def _columns(count: int) -> int:
    return max(1, min(count, int(np.ceil(np.sqrt(count * 1.6)))))  # a landscape grid of tiles


def map_mosaic(
    profile: np.ndarray, positions: np.ndarray, tiles: Sequence[int] | np.ndarray, size: int = GRID, paint: Any = None
) -> tuple[np.ndarray, float]:
    """``(image, rms)``: the maps of the groups ``tiles`` (in that order, row by row) tiled with gaps, each
    the profile over its RMS; NaN in the gaps and for absent groups (``paint``: a painter of the positions)."""
    scaled, rms = unit_rms(window_mean(profile))
    maps, present = grid_maps(scaled, positions, size, paint)
    by_group = {int(g): maps[i] for i, g in enumerate(present)}
    columns = _columns(len(tiles))
    rows = int(np.ceil(len(tiles) / columns))
    step, row_step = size + GAP, size + ROW_GAP
    image = np.full((rows * row_step - ROW_GAP, columns * step - GAP), np.nan)
    for index, group in enumerate(tiles):
        row, column = divmod(index, columns)
        tile = by_group.get(int(group))
        if tile is not None:
            image[row * row_step : row * row_step + size, column * step : column * step + size] = tile
    return image, rms


def _title(title: str, rms: float) -> str:
    return f"{title}   (RMS {rms:.3g})" if title else f"RMS {rms:.3g}"


def topomap_figure(
    profile: np.ndarray,
    positions: np.ndarray,
    group_names: Sequence[str],
    title: str = "",
    group_categories: Sequence[str] | None = None,
    value_label: str = "profile",
    layout_label: str = "",
) -> Figure:
    """One map per group over a layer's layout (``[C, 2]`` in ``[0, 1]^2``), every group a tile in category
    order (absent ones grey), its name above it, the RMS after the title and ``layout_label`` below."""
    tiles = category_order(len(group_names), group_categories)
    image, rms = map_mosaic(profile, positions, tiles)
    columns = _columns(len(tiles))
    rows = int(np.ceil(len(tiles) / columns))
    tile_inches, label_inches = 0.85, 0.17
    width = columns * tile_inches + 1.6
    height = rows * (tile_inches + label_inches) + 1.0
    figure = Figure(figsize=(width, height))
    axes = figure.add_axes((0.3 / width, 0.45 / height, (width - 1.6) / width, (height - 1.0) / height))
    shown = axes.imshow(
        np.ma.masked_invalid(image), cmap=_DIVERGING, vmin=-TRACKED_LIMIT, vmax=TRACKED_LIMIT, interpolation="nearest"
    )
    axes.set_aspect("equal")
    axes.set_axis_off()
    colours = category_colours(group_categories)
    step, row_step = GRID + GAP, GRID + ROW_GAP
    for index, group in enumerate(tiles):
        row, column = divmod(index, columns)
        axes.text(
            column * step + GRID / 2,
            row * row_step - 0.5,
            group_names[group],
            ha="center",
            va="bottom",
            fontsize=7,
            color=colours[group_categories[group]] if group_categories else "black",
        )
    axes.set_ylim(rows * row_step - ROW_GAP - 0.5, -ROW_GAP)  # room above the first row for its names
    axes.set_title(_title(title, rms), fontsize=10)
    if layout_label:
        figure.text(0.3 / width, 0.12 / height, layout_label, fontsize=8, va="bottom")
    _colourbar(figure, shown, axes, f"{value_label} / RMS", extend="both")
    return figure


class TopomapFrames:
    """One layer's maps in one layout, drawn once and then redrawn step by step: only the tiles and the
    title are drawn again over the saved rest (blitting), as :class:`~lightning_gradnap.figures.tracked.LayerFrames`
    does for the tracked heatmap.

    Args:
        profile: A profile of the layer (any step) to lay the figure out with.
        positions: The layout, ``[C, 2]``.
        **figure: Further arguments of :func:`topomap_figure` (names, categories, labels).
    """

    def __init__(self, profile: np.ndarray, positions: np.ndarray, group_names: Sequence[str], **figure: Any) -> None:
        self.positions = positions
        self.paint = painter(positions)  # triangulated once for every frame
        self.tiles = category_order(len(group_names), figure.get("group_categories"))
        self.figure = topomap_figure(profile, positions, group_names, **figure)
        axes = self.figure.axes[0]
        self.image, self.title = axes.images[0], axes.title
        self.frames = BlitFrames(self.figure, [self.image, self.title])

    def frame(self, profile: np.ndarray, title: str) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB of ``profile``'s maps, titled ``title`` (and its RMS)."""
        image, rms = map_mosaic(profile, self.positions, self.tiles, GRID, self.paint)
        self.image.set_data(np.ma.masked_invalid(image))
        self.title.set_text(_title(title, rms))
        return self.frames.draw()
