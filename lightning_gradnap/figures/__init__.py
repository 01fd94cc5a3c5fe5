"""Matplotlib figures of profiles, without pyplot's global state and without a SummaryWriter.

- :mod:`~lightning_gradnap.figures.plots`: heatmaps, dendrograms, 2-D views, agreement and feature
  figures, and :func:`figure_to_array` (the RGB image TensorBoard logs);
- :mod:`~lightning_gradnap.figures.tracked`: the views watched over steps: tracked heatmaps
  (:class:`LayerFrames` redraws only the cells) and emergence maps;
- :mod:`~lightning_gradnap.figures.canvas`: the Agg canvas that draws each distinct text once.
"""

from lightning_gradnap.figures.plots import (
    agreement_figure,
    dendrogram_figure,
    feature_figure,
    figure_to_array,
    groups_2d_figure,
    profile_heatmap,
    save_figure,
)
from lightning_gradnap.figures.tracked import LayerFrames, emergence_figure, tracked_heatmap, tracked_heatmap_panels

__all__ = [
    "LayerFrames",
    "agreement_figure",
    "dendrogram_figure",
    "emergence_figure",
    "feature_figure",
    "figure_to_array",
    "groups_2d_figure",
    "profile_heatmap",
    "save_figure",
    "tracked_heatmap",
    "tracked_heatmap_panels",
]
