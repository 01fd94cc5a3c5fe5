"""The ``right_wrong`` score and the most confused groups, checked by hand on profiles of a known structure."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gradnap.analysis.errors import most_confused, right_wrong_distance, split_pairs
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.score_keys import layer_scores
from lightning_gradnap.profiles.result import LayerProfile, Profiles, normalize_profiles


def layer(means: np.ndarray, counts: np.ndarray, half_means: np.ndarray | None = None) -> LayerProfile:
    half_counts = None if half_means is None else np.stack([counts / 2, counts / 2])
    return LayerProfile(normalize_profiles(means, counts), means, counts, half_means, half_counts)


def test_orthogonal_right_and_wrong_profiles_are_one_apart_and_identical_halves_add_no_noise() -> None:
    # 2 groups split: a correct, a wrong, b correct, b wrong; centred over the four, the rows are
    # e1, e2 (a) and -e1, -e2 (b): each group's right and wrong rows are orthogonal (distance 1).
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    counts = np.array([4.0, 2.0, 6.0, 2.0])
    score = right_wrong_distance(layer(means, counts, np.stack([means, means])))
    assert score.value == pytest.approx(1.0) and score.groups == 2
    assert score.noise == pytest.approx(0.0)  # both halves hold the same profiles


def test_opposite_halves_are_as_far_apart_as_can_be() -> None:
    means = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])  # right == wrong in each group
    counts = np.full(4, 4.0)
    flipped = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, -1.0], [0.0, -1.0]])  # half 1 at right angles to half 0
    score = right_wrong_distance(layer(means, counts, np.stack([means, flipped])))
    assert score.value == pytest.approx(0.0)
    assert score.noise == pytest.approx(1.0)


def test_groups_missing_a_side_are_skipped_and_none_left_is_nan_with_a_reason() -> None:
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [np.nan, np.nan]])
    counts = np.array([4.0, 2.0, 6.0, 0.0])  # b has no wrong frames: only a counts
    np.testing.assert_array_equal(split_pairs(counts), [0])
    assert right_wrong_distance(layer(means, counts)).groups == 1
    with pytest.warns(RuntimeWarning, match="right_wrong is NaN in conv: no group has frames both right and wrong"):
        score = right_wrong_distance(layer(means[[0, 3]], counts[[0, 3]]), name="conv")
    assert np.isnan(score.value) and "no group" in score.reason


def test_most_confused_by_wrong_frames_then_by_their_share() -> None:
    counts = np.array([10, 5, 1, 5, 3, 0, 0, 9])  # wrong: 5, 5, 0, 9 (shares 1/3, 5/6, 0, 1)
    assert most_confused(counts, 3) == [3, 1, 0]
    assert most_confused(counts, 10) == [3, 1, 0]  # group 2 has no wrong frames


def test_analyze_adds_right_wrong_and_its_noise_to_the_scores_only_when_split() -> None:
    rng = np.random.default_rng(0)
    means, counts = rng.normal(size=(6, 5)), np.full(6, 4.0)
    halves = means + 0.1 * rng.normal(size=(2, 6, 5))
    names = ["a correct", "a wrong", "b correct", "b wrong", "c correct", "c wrong"]
    split = Profiles({"conv": layer(means, counts, halves)}, names, metadata={"split_by_correctness": True})
    result = analyze(split, 2, permutations=0).layers["conv"]
    scores = layer_scores(result, {})
    expected = right_wrong_distance(split["conv"])
    assert scores["right_wrong"] == expected.value and scores["right_wrong_noise"] == expected.noise
    assert 0 < expected.noise < expected.value  # noisy halves of random profiles: noise well below the distance
    plain = Profiles({"conv": layer(means, counts, halves)}, names)
    assert "right_wrong" not in layer_scores(analyze(plain, 2, permutations=0).layers["conv"], {})
