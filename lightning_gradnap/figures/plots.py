"""Matplotlib figures of profiles, built without pyplot's global state (docs/METHOD.md §2).

Every builder returns a :class:`matplotlib.figure.Figure`; :func:`figure_to_array` renders one
with the Agg canvas for TensorBoard (texts from :mod:`~lightning_gradnap.figures.canvas`), :func:`save_figure`
writes a PNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from scipy.cluster import hierarchy

from lightning_gradnap.figures.layout import (
    _axes_inches,
    _colourbar,
    _fixed_figure,
    _row_labels,
    _symmetric_limit,
    category_colours,
    figure_to_array,
    save_figure,
)
from lightning_gradnap.profiles.result import window_mean

__all__ = [
    "agreement_figure",
    "category_colours",
    "dendrogram_figure",
    "feature_figure",
    "figure_to_array",
    "groups_2d_figure",
    "profile_heatmap",
    "save_figure",
]


def profile_heatmap(
    profile: np.ndarray,
    group_names: Sequence[str],
    group_order: Sequence[int] | np.ndarray,
    neuron_order: Sequence[int] | np.ndarray | None = None,
    title: str = "",
    group_categories: Sequence[str] | None = None,
    value_label: str = "profile (centred)",
) -> Figure:
    """Groups (rows, in ``group_order``) x neurons (columns, in ``neuron_order``), diverging
    colours centred on 0 with symmetric limits, a colour bar, and group names coloured by category.

    A time-resolved ``[G, C, W]`` profile is shown averaged over its window.
    """
    matrix = window_mean(profile)
    order = np.asarray(group_order, dtype=int)
    columns = np.arange(matrix.shape[1]) if neuron_order is None else np.asarray(neuron_order, dtype=int)
    data = matrix[order][:, columns]
    limit = _symmetric_limit(data)
    height = max(3.5, 0.16 * len(order) + 1.6)
    figure, axes = _fixed_figure(10, height, left=0.8, bottom=0.6, right=1.35, top=0.4)
    image = axes.imshow(data, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    _row_labels(axes, np.arange(len(order)), order, group_names, group_categories)
    if neuron_order is not None:
        axes.set_xticks([])  # positions in the clustered order, not neuron numbers
    axes.set_xlabel(f"neurons ({len(columns)}, clustered)" if neuron_order is not None else f"neurons ({len(columns)})")
    axes.set_ylabel("groups (dendrogram order)")
    axes.yaxis.set_label_coords(-0.65 / _axes_inches(axes)[0], 0.5)  # left of the group names
    axes.set_title(title)
    _colourbar(figure, image, axes, value_label, extend="both")
    return figure


def dendrogram_figure(
    linkage: np.ndarray,
    group_names: Sequence[str],
    present: Sequence[int] | np.ndarray,
    title: str = "",
    group_categories: Sequence[str] | None = None,
) -> Figure:
    """The average-linkage tree of the present groups, root on the left, leaves on the right,
    labelled and coloured by category. Leaves run top-down in the order of the heatmap's rows
    (leaf ``k`` at height ``10 k + 5``, as in :func:`scipy.cluster.hierarchy.dendrogram`)."""
    figure, axes = _fixed_figure(7, max(3.5, 0.16 * len(present) + 1.2), left=1.2, bottom=0.55, right=0.7, top=0.4)
    tree = hierarchy.dendrogram(linkage, no_plot=True)
    links = [
        np.column_stack([distances, heights]) for heights, distances in zip(tree["icoord"], tree["dcoord"], strict=True)
    ]
    axes.add_collection(LineCollection(links, colors="#555555", linewidths=1.0))
    highest = max((max(distances) for distances in tree["dcoord"]), default=0.0) or 1.0
    axes.set_xlim(1.05 * highest, 0)
    axes.set_ylim(10 * len(tree["leaves"]), 0)  # the first leaf on top, like the heatmap's first row
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    leaves = [present[leaf] for leaf in tree["leaves"]]
    _row_labels(axes, 10 * np.arange(len(leaves)) + 5, leaves, group_names, group_categories, side="right")
    axes.set_xlabel("cosine distance (average linkage)")
    axes.set_title(title)
    _category_key(axes, group_categories, present, side="left")
    return figure


def _category_key(axes, categories: Sequence[str] | None, present: Sequence[int] | np.ndarray, side: str) -> None:
    """The categories of the present groups in their colours, one per line, downwards from the
    top, in the margin left or right of ``axes`` (clear of anything drawn inside). Plain text: a
    legend box costs as much to lay out as the rest of the figure."""
    if categories is None:
        return
    colours = category_colours(categories)
    x, offset, align = (0.0, -6, "right") if side == "left" else (1.0, 6, "left")
    for line, category in enumerate(dict.fromkeys(categories[g] for g in present)):
        text = f"{category} \u25cf" if side == "left" else f"\u25cf {category}"  # the dots towards the axes
        axes.annotate(
            text,
            (x, 1.0),
            xycoords="axes fraction",
            xytext=(offset, -4 - 10 * line),
            textcoords="offset points",
            fontsize=7,
            color=colours[category],
            va="top",
            ha=align,
        )


def groups_2d_figure(
    points: np.ndarray,
    group_names: Sequence[str],
    present: Sequence[int] | np.ndarray,
    title: str = "",
    group_categories: Sequence[str] | None = None,
    method: str = "PCA",
    limit: float | None = None,
) -> Figure:
    """Present groups as labelled points of a 2-D embedding, coloured by category (axes from
    ``-limit`` to ``limit`` if given, e.g. held across steps; else fitted to the points)."""
    figure, axes = _fixed_figure(7.8, 6, left=0.4, bottom=0.4, right=1.2, top=0.4)
    colours = category_colours(group_categories)
    point_colours = [colours[group_categories[g]] for g in present] if group_categories else "#1f77b4"
    axes.scatter(points[:, 0], points[:, 1], c=point_colours, s=30)
    for point, g in zip(points, present, strict=True):
        axes.text(point[0], point[1], f" {group_names[g]}", fontsize=8, va="bottom")
    _category_key(axes, group_categories, present, side="right")
    if limit is not None:
        axes.set(xlim=(-limit, limit), ylim=(-limit, limit))
    axes.set_xticks([])  # coordinates of an embedding have no units
    axes.set_yticks([])
    axes.set_xlabel(f"{method} 1")
    axes.set_ylabel(f"{method} 2")
    axes.set_title(title)
    return figure


def agreement_figure(matrix: np.ndarray, layer_names: Sequence[str], title: str = "") -> Figure:
    """The layer-by-layer AMI matrix of group clusterings."""
    size = max(4.0, 0.4 * len(layer_names) + 2.0)
    figure, axes = _fixed_figure(size + 1.4, size, left=1.5, bottom=1.5, right=1.4, top=0.4)
    image = axes.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    axes.set_xticks([])
    axes.set_yticks([])
    by_row, by_column = axes.get_yaxis_transform(), axes.get_xaxis_transform()  # names as text: ticks cost more
    for index, name in enumerate(layer_names):
        axes.text(-0.01, index, name, transform=by_row, ha="right", va="center", fontsize=8)
        axes.text(
            index,
            -0.01,
            name,
            transform=by_column,
            ha="right",
            va="top",
            rotation=60,
            rotation_mode="anchor",
            fontsize=8,
        )
    for i, j in np.ndindex(matrix.shape):
        if np.isfinite(matrix[i, j]) and len(layer_names) <= 16:
            axes.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix[i, j] < 0.6 else "black",
            )
    _colourbar(figure, image, axes, "adjusted mutual information")
    axes.set_title(title)
    return figure


def feature_figure(
    group_windows: np.ndarray,
    overall: np.ndarray,
    names: Sequence[str],
    title: str = "",
    weighted: np.ndarray | None = None,
) -> Figure:
    """Input-domain views (docs/METHOD.md §1.7): per group, its mean feature window minus the overall mean
    (top row) and, if given, the gradient-weighted window ``x * dy/dx`` (bottom row).

    Args:
        group_windows: ``[N, F, W]`` mean input windows of ``N`` groups.
        overall: ``[F, W]`` mean window over all groups.
        names: ``N`` group names.
        weighted: ``[N, F, W]`` mean ``x * dy/dx`` windows.
    """
    rows = 1 if weighted is None else 2
    count, (bins, window) = len(names), group_windows.shape[1:]
    gap = max(1, window // 8)  # blank columns between groups
    width, height = 1.6 * count + 1.9, 2.4 * rows + 0.7
    figure = Figure(figsize=(width, height))
    panels = [("mean - overall", group_windows - overall[None], "RdBu_r")]
    if weighted is not None:
        panels.append(("x * dy/dx", weighted, "PuOr_r"))
    row_height = (height - 0.6 - 0.2 - 0.35 * (rows - 1)) / rows
    for row, (label, values, cmap) in enumerate(panels):
        # One image per row, the groups side by side: a grid of axes costs several times more to draw.
        mosaic = np.full((bins, count * (window + gap) - gap), np.nan)
        for column in range(count):
            mosaic[:, column * (window + gap) : column * (window + gap) + window] = values[column]
        bottom = height - 0.6 - (row + 1) * row_height - row * 0.35
        axes = figure.add_axes((0.9 / width, bottom / height, 1 - 1.9 / width, row_height / height))
        limit = _symmetric_limit(values)
        image = axes.imshow(
            mosaic,
            origin="lower",
            aspect="auto",
            cmap=colormaps[cmap].with_extremes(bad="white"),
            vmin=-limit,
            vmax=limit,
            interpolation="nearest",
        )
        axes.set_xticks([])
        for spine in axes.spines.values():
            spine.set_visible(False)
        if row == 0:
            for column, name in enumerate(names):
                axes.text(
                    column * (window + gap) + (window - 1) / 2,
                    1.01,
                    name,
                    transform=axes.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=9,
                )
        axes.set_ylabel(f"{label}\nfeature bin", fontsize=8)
        _colourbar(figure, image, axes, "")
    figure.suptitle(title)
    return figure
