"""Tracked orderings (lightning_gradnap.analysis.tracking): exact orders, anchoring, alignment, state, files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lightning_gradnap.analysis.embedding import align_points
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.tracking import (
    OrderTracker,
    TrackedOrder,
    category_order,
    has_structure,
    preferred_neuron_order,
    track_orderings,
    unit_rms,
)
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.profiles.result import LayerProfile, Profiles

NAMES = ["aa", "p", "iy", "s", "t", "m"]
CATEGORIES = ["vowel", "stop", "vowel", "fricative", "stop", "nasal"]


def profiles_of(matrices: dict[str, np.ndarray], categories=CATEGORIES) -> Profiles:
    layers = {}
    for name, matrix in matrices.items():
        counts = np.where(np.isnan(matrix).any(axis=1), 0.0, 10.0)
        layers[name] = LayerProfile(matrix, matrix, counts)
    return Profiles(layers, NAMES, categories, {"method": "gradnap"})


AXIS = {"vowel": 1.0, "stop": -0.7, "fricative": -0.4, "nasal": 0.3}  # e.g. vowel-ness


def structured(seed: int, strength: float = 3.0, neurons: int = 8) -> np.ndarray:
    """Profiles along one main axis shared by the categories, a pattern per category, and noise."""
    rng = np.random.default_rng(seed)
    main, patterns = rng.normal(size=neurons), {c: rng.normal(size=neurons) for c in AXIS}
    matrix = np.stack([strength * (AXIS[c] * main + 0.3 * patterns[c]) for c in CATEGORIES])
    matrix = matrix + rng.normal(size=(len(NAMES), neurons))
    return matrix - matrix.mean(axis=0)


def test_category_order_is_by_first_appearance_then_by_index() -> None:
    np.testing.assert_array_equal(category_order(6, CATEGORIES), [0, 2, 1, 4, 3, 5])
    np.testing.assert_array_equal(category_order(3, None), [0, 1, 2])


def test_preferred_neuron_order_is_exact() -> None:
    # rows in the order given; columns: peak row 1 (2.0), row 0 (1.0), none positive, row 1 (3.0), row 0 (5.0)
    matrix = np.array([[1.0, 1.0, -1.0, 0.0, 5.0], [2.0, -1.0, -2.0, 3.0, 0.0], [np.nan] * 5])
    np.testing.assert_array_equal(preferred_neuron_order(matrix, [0, 1, 2]), [4, 1, 3, 0, 2])
    np.testing.assert_array_equal(preferred_neuron_order(matrix, [1, 0, 2]), [3, 0, 4, 1, 2])


def test_unit_rms_ignores_absent_rows() -> None:
    matrix = np.array([[3.0, -4.0], [np.nan, np.nan]])
    scaled, rms = unit_rms(matrix)
    assert rms == pytest.approx(np.sqrt(12.5))
    np.testing.assert_allclose(scaled[0], [3 / np.sqrt(12.5), -4 / np.sqrt(12.5)])
    assert np.isnan(scaled[1]).all() and unit_rms(np.zeros((2, 2)))[1] == 1.0


def test_procrustes_undoes_a_rotation_and_a_reflection() -> None:
    rng = np.random.default_rng(0)
    previous = rng.normal(size=(7, 2))
    previous[3] = np.nan  # absent before: left out of the fit, kept as it is
    angle = 2.0
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1.0, -1.0])
    current = previous @ rotation + [5.0, -2.0]
    current[3] = [1.0, 1.0]
    aligned = align_points(current, previous)
    np.testing.assert_allclose(np.delete(aligned, 3, axis=0), np.delete(previous, 3, axis=0), atol=1e-12)
    assert np.isfinite(aligned[3]).all()
    np.testing.assert_array_equal(align_points(current, None), current)


def test_structure_is_a_first_component_that_beats_shuffled_copies() -> None:
    assert has_structure(structured(0))
    assert has_structure(np.outer([1.0, -1.0, 2.0, 0.5, -2.0, -0.5], np.arange(1.0, 9.0)))  # one shared pattern
    assert not has_structure(np.zeros((6, 4))) and not has_structure(structured(0)[:2])  # nothing; too few groups
    rng = np.random.default_rng(1)
    chance = [has_structure(rng.normal(size=(39, 128)), seed=i) for i in range(40)]
    assert sum(chance) <= 5  # noise passes about 1 time in 21


def test_rows_and_columns_hold_still_from_the_anchor_on() -> None:
    tracker = OrderTracker()
    steps = [np.zeros((6, 8)), structured(0), structured(1, 1.0), structured(2, 0.5)]  # nothing, then structure
    orders = [tracker.update(profiles_of({"conv": matrix}), step)["conv"] for step, matrix in enumerate(steps)]
    assert orders[0].anchor_step is None
    np.testing.assert_array_equal(orders[0].neurons, np.arange(8))
    assert [order.anchor_step for order in orders[1:]] == [1, 1, 1]
    np.testing.assert_array_equal(orders[1].neurons, preferred_neuron_order(steps[1], category_order(6, CATEGORIES)))
    for order in orders:
        np.testing.assert_array_equal(order.groups, [0, 2, 1, 4, 3, 5])
    for order in orders[2:]:
        np.testing.assert_array_equal(order.neurons, orders[1].neurons)
    # the per-step clustered orders do move: that is what the tracked view is for
    assert any(not np.array_equal(a.cluster_neurons, orders[1].cluster_neurons) for a in orders[2:])
    tracker.reanchor(["conv"])
    again = tracker.update(profiles_of({"conv": structured(3)}), 4)["conv"]
    assert again.anchor_step == 4 and tracker.state["reanchor"] == []
    np.testing.assert_array_equal(again.neurons, preferred_neuron_order(structured(3), again.groups))


def test_state_is_plain_data_and_resumes_exactly() -> None:
    matrices = [structured(seed) for seed in range(4)]
    whole = OrderTracker()
    expected = [whole.update(profiles_of({"conv": m}), step)["conv"] for step, m in enumerate(matrices)]
    first = OrderTracker()
    for step, matrix in enumerate(matrices[:2]):
        first.update(profiles_of({"conv": matrix}), step)
    checkpoint = json.loads(json.dumps(first.state))  # plain lists and numbers (NaN as JSON's NaN)
    resumed = OrderTracker()
    resumed.load(checkpoint)
    for step, matrix in enumerate(matrices[2:], start=2):
        got = resumed.update(profiles_of({"conv": matrix}), step)["conv"]
        np.testing.assert_array_equal(got.neurons, expected[step].neurons)
        np.testing.assert_allclose(got.points, expected[step].points, atol=1e-12)


def test_offline_tracking_equals_incremental_and_is_saved_in_the_file(tmp_path) -> None:
    runs = [profiles_of({"a": structured(s), "b": structured(s + 10, neurons=5)}) for s in range(3)]
    history = ProfileHistory()
    saved = []
    for step, profiles in zip([10, 20, 30], runs, strict=True):
        history.track(profiles, step, analyze(profiles, 2))
        saved.append(profiles.save(tmp_path / f"epoch=000-step={step:06d}.npz"))
    offline = track_orderings([Profiles.load(path) for path in saved], [10, 20, 30])
    for path, orders in zip(saved, offline, strict=True):
        loaded = Profiles.load(path)
        for layer, order in orders.items():
            back = TrackedOrder.from_arrays(loaded.orderings[layer], loaded[layer].profile)
            np.testing.assert_array_equal(back.groups, order.groups)
            np.testing.assert_array_equal(back.neurons, order.neurons)
            assert back.anchor_step == order.anchor_step == 10
            np.testing.assert_allclose(back.points, order.points, atol=1e-12)
            result = analyze(loaded, 2).layers[layer]  # the file's clustered orders are the step's own
            np.testing.assert_array_equal(back.cluster_groups, result.group_order)
            np.testing.assert_array_equal(back.cluster_neurons, result.neuron_order)
    keys = set(np.load(saved[0]).files)
    assert {
        "tracked_groups_0",
        "tracked_neurons_1",
        "tracked_anchor_0",
        "groups_2d_1",
        "cluster_groups_0",
        "cluster_neurons_1",
        "format_version",
    } <= keys
    assert int(np.load(saved[0])["format_version"]) == 1


def test_files_without_orderings_still_load(tmp_path) -> None:
    profiles = profiles_of({"a": structured(0)})
    path = profiles.save(tmp_path / "old.npz")
    assert Profiles.load(path).orderings == {}
    orders = track_orderings([Profiles.load(path)])[0]
    assert orders["a"].anchor_step == 0


def test_time_resolved_profiles_are_ordered_by_channel() -> None:
    matrix = np.repeat(structured(0)[:, :, None], 3, axis=2)
    order = OrderTracker().update(profiles_of({"w": matrix}), 5)["w"]
    assert order.anchor_step == 5 and len(order.neurons) == 8
    assert order.points.shape == (6, 2)


def test_unknown_embedding_is_refused() -> None:
    with pytest.raises(ValueError, match="embedding"):
        OrderTracker("umap")
