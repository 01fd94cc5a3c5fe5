"""Analysis against hand-checkable cases; figures built without pyplot, readable for 40+ groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.figure import Figure

from lightning_gradnap import LayerProfile, Profiles, analyze
from lightning_gradnap.analysis.profile_analysis import cosine_linkage, layer_agreement, stability
from lightning_gradnap.figures import plots
from lightning_gradnap.profiles.result import FeatureViews
from lightning_gradnap.summary.step_views import feature_groups

CATEGORIES = ["vowel"] * 4 + ["plosive"] * 4 + ["nasal"] * 4


def clustered_profiles(noise: float = 0.05, seed: int = 0, groups_absent: tuple[int, ...] = ()) -> Profiles:
    rng = np.random.default_rng(seed)
    centres = {c: rng.normal(size=16) for c in ("vowel", "plosive", "nasal")}
    rows = np.stack([centres[c] + noise * rng.normal(size=16) for c in CATEGORIES])
    rows[list(groups_absent)] = np.nan
    counts = np.where(np.isnan(rows).any(axis=1), 0.0, 10.0)
    layers = {
        "a": LayerProfile(rows, rows, counts),
        "b": LayerProfile(rows[:, ::-1].copy(), rows, counts),
        "random": LayerProfile(rng.normal(size=rows.shape), rows, np.full(12, 10.0)),
    }
    return Profiles(layers, [f"g{i}" for i in range(12)], CATEGORIES)


def test_clear_clusters_score_high_and_noise_scores_low() -> None:
    analysis = analyze(clustered_profiles(), num_clusters=3)
    clean, noisy = analysis.layers["a"], analysis.layers["random"]
    assert clean.ami == pytest.approx(1.0) and clean.silhouette > 0.8
    assert noisy.ami < 0.5 and noisy.silhouette < 0.2
    # dendrogram order keeps each category contiguous
    order_categories = [CATEGORIES[g] for g in clean.group_order]
    assert sum(a != b for a, b in itertools.pairwise(order_categories)) == 2
    assert sorted(clean.neuron_order) == list(range(16))
    assert analysis.agreement[0, 1] == pytest.approx(1.0) and analysis.agreement[0, 2] < 0.5


def test_absent_groups_are_left_out_everywhere() -> None:
    analysis = analyze(clustered_profiles(groups_absent=(0, 5)), num_clusters=3)
    layer = analysis.layers["a"]
    assert 0 not in layer.group_order and 5 not in layer.group_order and len(layer.group_order) == 10
    assert layer.clusters[0] == -1 and layer.clusters[5] == -1
    assert layer.ami == pytest.approx(1.0)


def test_stability_kmeans_and_errors() -> None:
    first, second = clustered_profiles(seed=0), clustered_profiles(seed=0, noise=0.06)
    assert stability(first["a"].profile, first["a"].profile) == pytest.approx(1.0)
    assert stability(first["a"].profile, -first["a"].profile) == pytest.approx(-1.0)
    assert analyze(second, 3, previous=first).layers["a"].stability > 0.99
    assert np.isnan(analyze(first, 3).layers["a"].stability)
    assert analyze(first, 3, clustering="kmeans").layers["a"].ami == pytest.approx(1.0)
    with pytest.raises(ValueError, match="`clustering` should be one of"):
        analyze(first, clustering="spectral")
    with pytest.raises(ValueError, match="at least 2"):
        analyze(first, num_clusters=1)


def test_zero_rows_and_tiny_inputs_do_not_break_clustering() -> None:
    assert cosine_linkage(np.zeros((1, 3))) is None
    linkage = cosine_linkage(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert linkage.shape == (2, 4) and np.isfinite(linkage).all()
    assert np.isnan(layer_agreement({}).sum()) or layer_agreement({}).size == 0


def test_figures_are_figure_objects() -> None:  # no pyplot: see test_package.py
    profiles = clustered_profiles()
    analysis = analyze(profiles, 3)
    layer = analysis.layers["a"]
    names, categories = profiles.group_names, profiles.group_categories
    figures = [
        plots.profile_heatmap(profiles["a"].profile, names, layer.group_order, layer.neuron_order, "a", categories),
        plots.dendrogram_figure(layer.linkage, names, layer.present, "a", categories),
        plots.groups_2d_figure(np.random.default_rng(0).normal(size=(12, 2)), names, layer.present, "a", categories),
        plots.agreement_figure(analysis.agreement, list(analysis.layers)),
        plots.feature_figure(np.ones((3, 5, 7)), np.zeros((5, 7)), ["x", "y", "z"], "f", np.ones((3, 5, 7))),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        image = plots.figure_to_array(figure)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.std() > 0


def test_heatmap_is_readable_for_many_groups() -> None:
    groups = 45
    profile = np.random.default_rng(1).normal(size=(groups, 30))
    names = [f"ph{i}" for i in range(groups)]
    figure = plots.profile_heatmap(
        profile, names, np.arange(groups)[::-1], np.arange(30), "layer — epoch 3", ["v", "c"] * 22 + ["v"]
    )
    axes = figure.axes[0]
    rows = sorted(axes.texts, key=lambda text: text.get_position()[1])  # row 0 first
    assert [text.get_text() for text in rows] == names[::-1]  # every group named, in the given order
    assert [text.get_position()[1] for text in rows] == list(range(groups))  # beside its row
    assert {text.get_color() for text in rows[1::2]} != {text.get_color() for text in rows[::2]}  # by category
    assert figure.get_figheight() * 72 / groups >= 9  # at least ~9 points of height per row
    image = axes.get_images()[0]
    low, high = image.get_clim()
    assert low == -high and image.get_cmap().name == "RdBu_r"  # diverging, centred on zero
    assert axes.get_title() == "layer — epoch 3" and len(figure.axes) == 2  # the colour bar


def test_dendrogram_leaves_follow_the_heatmap_rows() -> None:
    profiles = clustered_profiles()
    layer = analyze(profiles, 3).layers["a"]
    names, categories = profiles.group_names, profiles.group_categories
    axes = plots.dendrogram_figure(layer.linkage, names, layer.present, "a", categories).axes[0]
    leaves = [text for text in axes.texts if text.get_text() in names]
    top_down = sorted(leaves, key=lambda text: text.get_position()[1])  # the y axis runs downwards
    assert axes.yaxis_inverted()
    key = [text.get_text() for text in axes.texts if text not in leaves]
    assert key == ["vowel \u25cf", "plosive \u25cf", "nasal \u25cf"]  # the categories, left of the tree
    assert [text.get_text() for text in top_down] == [names[g] for g in layer.group_order]
    colours = plots.category_colours(categories)
    assert [text.get_color() for text in top_down] == [colours[categories[g]] for g in layer.group_order]
    assert len(axes.collections[0].get_segments()) == len(layer.present) - 1  # one link per merge


def test_feature_figure_shows_each_group_side_by_side() -> None:
    windows = np.arange(3 * 5 * 7, dtype=float).reshape(3, 5, 7)
    figure = plots.feature_figure(windows, np.zeros((5, 7)), ["x", "y", "z"], "f", -windows)
    rows = [axes for axes in figure.axes if axes.get_images() and axes.texts]
    assert len(rows) == 1 and [text.get_text() for text in rows[0].texts] == ["x", "y", "z"]
    mosaics = [axes.get_images()[0].get_array() for axes in figure.axes[::2]]  # each row, then its colour bar
    assert len(mosaics) == 2 and all(m.shape == (5, 3 * 7 + 2) for m in mosaics)
    np.testing.assert_array_equal(mosaics[0][:, 8:15], windows[1])  # the second group after a blank column
    assert mosaics[0].mask[:, 7].all() and mosaics[1].mask[:, 15].all()
    np.testing.assert_array_equal(mosaics[1][:, 16:], -windows[2])


def test_feature_groups_cover_categories_first() -> None:
    views = FeatureViews(np.zeros((5, 2, 3)), None, np.array([50.0, 40, 30, 20, 0]), np.zeros((2, 3)))
    assert feature_groups(views, ["v", "v", "c", "n", "c"], 3) == [0, 2, 3]
    assert feature_groups(views, None, 2) == [0, 1]
    assert feature_groups(views, ["v", "v", "c", "n", "c"], 10) == [0, 2, 3, 1]
