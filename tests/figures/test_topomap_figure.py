"""The topographic map figure (lightning_gradnap.figures.topomap): tiles where they belong, one image."""

from __future__ import annotations

import numpy as np

from lightning_gradnap.analysis.topomap_scores import GRID
from lightning_gradnap.figures.layout import figure_to_array
from lightning_gradnap.figures.topomap import GAP, map_mosaic, topomap_figure

POSITIONS = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]])


def test_mosaic_tiles_in_order_absent_groups_grey() -> None:
    profile = np.array([[1.0, 1.0, 1.0, 1.0], [np.nan] * 4, [-1.0, -1.0, -1.0, -1.0]])  # RMS 1
    image, rms = map_mosaic(profile, POSITIONS, [2, 1, 0])  # 3 tiles: 3 columns, one row
    assert rms == 1.0 and image.shape == (GRID, 3 * GRID + 2 * GAP)
    np.testing.assert_array_equal(image[:, :GRID], -1.0)  # group 2 first
    assert np.isnan(image[:, GRID : GRID + GAP]).all()  # the gap
    assert np.isnan(image[:, GRID + GAP : 2 * GRID + GAP]).all()  # group 1 is absent
    np.testing.assert_array_equal(image[:, -GRID:], 1.0)


def test_figure_names_every_group_in_one_image() -> None:
    profile = np.array([[1.0, -1.0, 0.5, 0.0], [0.0, 1.0, -1.0, 0.5], [np.nan] * 4])
    figure = topomap_figure(profile, POSITIONS, ["aa", "p", "s"], "conv", ["vowel", "stop", "fricative"])
    axes = figure.axes[0]
    assert len(axes.images) == 1 and [t.get_text() for t in axes.texts] == ["aa", "p", "s"]
    assert figure_to_array(figure).ndim == 3


def test_redrawn_frames_equal_new_figures_pixel_for_pixel() -> None:
    from lightning_gradnap.figures.topomap import TopomapFrames

    rng = np.random.default_rng(0)
    names, categories = ["aa", "p", "s"], ["vowel", "stop", "fricative"]
    first, second = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    second[1] = np.nan  # a group absent at the later step
    frames = TopomapFrames(first, POSITIONS, names, group_categories=categories, layout_label="held")
    for profile in (first, second):
        fresh = topomap_figure(profile, POSITIONS, names, "conv, step 3", categories, layout_label="held")
        np.testing.assert_array_equal(frames.frame(profile, "conv, step 3"), figure_to_array(fresh))
