"""Topographic maps (lightning_gradnap.analysis.topomap, topomap_scores): scores by hand, layout, anchoring."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gradnap.analysis.topomap import (
    TopomapLayout,
    TopomapTracker,
    lattice_positions,
    threshold_graph,
    topomap_layers,
    topomap_layout,
)
from lightning_gradnap.analysis.topomap_scores import GRID, blobs, grid_maps, smoothness, topomap_scores
from lightning_gradnap.profiles.result import LayerProfile, Profiles


def checkerboard(cell: int = 1, size: int = GRID) -> np.ndarray:
    index = np.arange(size) // cell
    return np.where((index[:, None] + index[None, :]) % 2 == 0, 1.0, -1.0)


def disk(centre: tuple[float, float], radius: float, size: int = GRID) -> np.ndarray:
    rows, columns = np.mgrid[0:size, 0:size]
    return (((rows - centre[0]) ** 2 + (columns - centre[1]) ** 2) <= radius**2).astype(float)


def clustered_profile(neurons: int = 60, clusters: int = 3, groups: int = 9, seed: int = 0) -> np.ndarray:
    """Each neuron answers to the groups of its cluster (plus a little noise): a layer with regions."""
    generator = np.random.default_rng(seed)
    cluster_of_neuron, cluster_of_group = np.arange(neurons) % clusters, np.arange(groups) % clusters
    profile = (cluster_of_group[:, None] == cluster_of_neuron[None, :]).astype(float)
    profile += 0.05 * generator.normal(size=profile.shape)
    return profile - profile.mean(axis=0)


class TestSmoothness:
    def test_checkerboard_is_zero(self):
        assert smoothness(checkerboard()) == pytest.approx(0.0, abs=1e-12)  # every block mean is 0: error 1

    def test_constant_over_the_largest_blocks_is_one(self):
        assert smoothness(checkerboard(cell=16)) == pytest.approx(1.0, abs=1e-12)

    def test_constant_over_8x8_blocks(self):
        # errors 0, 0, 0 at blocks of 2, 4, 8; at 16 every block mean is 0: error 1.
        # Area over log2 f = 1..4: (0 + 0 + 1/2) / 3 = 1/6.
        assert smoothness(checkerboard(cell=8)) == pytest.approx(1 - 1 / 6, abs=1e-12)

    def test_constant_map_is_undefined(self):
        assert np.isnan(smoothness(np.full((GRID, GRID), 2.0)))

    def test_smooth_blob_beats_checkerboard(self):
        rows, columns = np.mgrid[0:GRID, 0:GRID]
        blob = np.exp(-((rows - 16) ** 2 + (columns - 12) ** 2) / (2 * 6.0**2))
        assert smoothness(blob) > 0.5  # the 16 x 16 blocks lose much of a blob of sigma 6, the smaller ones little


class TestBlobs:
    def test_checkerboard_has_one_blob_per_pixel(self):
        count, size = blobs(checkerboard())
        assert (count, size) == (GRID * GRID, pytest.approx(1 / GRID**2))  # 4-connected: no pixel touches its colour

    def test_one_disk(self):
        image = disk((10, 20), 5)
        count, size = blobs(image)
        assert count == 1 and size == pytest.approx(image.sum() / GRID**2)

    def test_a_red_and_a_blue_disk(self):
        image = disk((8, 8), 4) - disk((24, 24), 4)
        count, size = blobs(image)
        assert count == 2 and size == pytest.approx(disk((8, 8), 4).sum() / GRID**2)

    def test_threshold_is_relative_to_the_rms(self):
        image = disk((8, 8), 4) + 0.01 * disk((24, 24), 4)  # the small one is far below 0.5 RMS
        assert blobs(image)[0] == 1
        assert blobs(np.zeros((GRID, GRID)))[0] == 0 and np.isnan(blobs(np.zeros((GRID, GRID)))[1])


class TestGrid:
    def test_neuron_values_at_their_places_and_linear_between(self):
        positions = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        profile = np.array([[0.0, 1.0, 0.0, 1.0], [np.nan] * 4])  # x itself; the second group is absent
        maps, groups = grid_maps(profile, positions, size=4)
        centres = (np.arange(4) + 0.5) / 4
        assert groups.tolist() == [0]
        np.testing.assert_allclose(maps[0], np.tile(centres, (4, 1)), atol=1e-12)  # row = y, column = x

    def test_nearest_outside_the_hull(self):
        positions = np.array([[0.4, 0.4], [0.6, 0.4], [0.5, 0.6]])
        maps, _ = grid_maps(np.array([[1.0, 2.0, 3.0]]), positions, size=8)
        assert maps[0, 0, 0] == 1.0 and maps[0, 0, -1] == 2.0 and maps[0, -1, 4] == 3.0


class TestLayout:
    def test_deterministic_unique_places_in_the_square(self):
        profile = clustered_profile()
        first, second = topomap_layout(profile), topomap_layout(profile)
        np.testing.assert_array_equal(first, second)
        assert len(np.unique(first, axis=0)) == len(first)  # the de-overlap: one cell each
        assert first.min() > 0 and first.max() < 1

    def test_similar_neurons_are_neighbours(self):
        positions = topomap_layout(clustered_profile())
        cluster = np.arange(60) % 3
        gaps = np.linalg.norm(positions[:, None] - positions[None, :], axis=2)
        same = cluster[:, None] == cluster[None, :]
        assert gaps[same & ~np.eye(60, dtype=bool)].mean() < 0.6 * gaps[~same].mean()

    def test_threshold_graph_is_connected(self):
        distances = np.array([[0, 0.1, 0.9, 0.8], [0.1, 0, 0.7, 0.95], [0.9, 0.7, 0, 0.05], [0.8, 0.95, 0.05, 0]])
        graph = threshold_graph(distances, percentile=40)  # links 0-1 and 2-3; the tree's 1-2 (0.7) joins them
        assert sorted(graph.edges()) == [(0, 1), (1, 2), (2, 3)]
        assert sorted(threshold_graph(distances, percentile=90).edges()) == [(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)]

    def test_lattice_keeps_the_order(self):
        points = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
        np.testing.assert_allclose(lattice_positions(points), [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])

    def test_upper_layers(self):
        assert topomap_layers(["a", "b", "c"], 2) == ["b", "c"]
        assert topomap_layers(["a", "b", "c"], None) == ["a", "b", "c"]
        assert topomap_layers(["a"], 2) == ["a"]


class TestScores:
    def test_structured_layout_beats_random(self):
        profile = clustered_profile(neurons=100)
        scores = topomap_scores(profile, topomap_layout(profile))
        smooth, smooth_random = scores["topomap_smoothness"]
        count, count_random = scores["topomap_blobs"]
        size, size_random = scores["topomap_blob_size"]
        assert smooth > smooth_random + 0.2 and count < count_random and size > size_random

    def test_no_finite_group_scores_nan(self):
        profile = np.full((4, 20), np.nan)  # no group had frames
        scores = topomap_scores(profile, lattice_positions(np.random.default_rng(0).random((20, 2))))
        assert all(np.isnan(value) and np.isnan(random) for value, random in scores.values())


def one_layer(profile: np.ndarray) -> Profiles:
    return Profiles({"conv": LayerProfile(profile, profile, np.ones(len(profile)))}, [f"g{i}" for i in range(9)])


class TestTracker:
    def test_anchored_across_steps_and_checkpoints(self):
        tracker = TopomapTracker()
        early = one_layer(np.random.default_rng(1).normal(size=(9, 60)))
        before = tracker.update(early, 0, {"conv": None}, ["conv"])["conv"]
        assert before.anchor_step is None and tracker.state["layouts"] == {}
        structured = one_layer(clustered_profile())
        anchored = tracker.update(structured, 5, {"conv": 5}, ["conv"])["conv"]
        np.testing.assert_array_equal(anchored.positions, topomap_layout(structured["conv"].profile))
        later = one_layer(clustered_profile(clusters=4, seed=3))  # other regions: the same places
        held = tracker.update(later, 9, {"conv": 5}, ["conv"])["conv"]
        assert held.anchor_step == 5
        np.testing.assert_array_equal(held.positions, anchored.positions)
        assert TopomapLayout.from_arrays(later.orderings["conv"]).anchor_step == 5
        np.testing.assert_array_equal(later.orderings["conv"]["topomap_xy"], anchored.positions)
        resumed = TopomapTracker()
        resumed.load(tracker.state)  # plain lists, as a checkpoint keeps them
        again = resumed.update(one_layer(clustered_profile(seed=7)), 12, {"conv": 5}, ["conv"])["conv"]
        np.testing.assert_array_equal(again.positions, anchored.positions)

    def test_a_reanchored_heatmap_lays_the_map_out_again(self):
        tracker = TopomapTracker()
        tracker.update(one_layer(clustered_profile()), 1, {"conv": 1}, ["conv"])
        other = one_layer(clustered_profile(clusters=4, seed=3))
        moved = tracker.update(other, 8, {"conv": 8}, ["conv"])["conv"]
        assert moved.anchor_step == 8
        np.testing.assert_array_equal(moved.positions, topomap_layout(other["conv"].profile))


def test_grid_weights_equal_scipy_linear_interpolation() -> None:
    from scipy.interpolate import LinearNDInterpolator

    positions = topomap_layout(clustered_profile(neurons=50))
    values = np.random.default_rng(0).normal(size=(50, 4))
    maps, _ = grid_maps(values.T, positions)
    pixels = np.column_stack(
        [a.ravel() for a in np.meshgrid((np.arange(GRID) + 0.5) / GRID, (np.arange(GRID) + 0.5) / GRID)]
    )
    reference = LinearNDInterpolator(positions, values)(pixels)
    inside = np.isfinite(reference).all(axis=1)
    assert inside.mean() > 0.5  # 50 neurons on 64 lattice cells: the rest is outside their hull
    np.testing.assert_allclose(maps.reshape(4, -1).T[inside], reference[inside], atol=1e-9)
