"""Scores against their chance levels, split-half reliability, NAP beside GradNAP: by hand and by brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import silhouette_score

from lightning_gradnap import Profiles, compute_profiles
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.scores import (
    cosine_distances,
    neighbour_agreement,
    profile_correlation,
    rsa,
    score_with_chance,
    silhouettes,
    split_half_reliability,
)
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.engine.engine import ProfileEngine
from tests.helpers.frame_models import frame_batch, frame_model

pytestmark = pytest.mark.filterwarnings("ignore:.*groups have no frames")


def test_scores_by_hand_on_five_groups() -> None:
    # two tight pairs and one group between them, in 2-D
    rows = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0]])
    categories = np.array([0, 0, 1, 1, 1])
    distances = cosine_distances(rows)
    assert distances[0, 1] == pytest.approx(1 - 1 / np.sqrt(1.01)) and distances[0, 2] == pytest.approx(1.0)
    # nearest others: 0 -> 1, 1 -> 0, 2 -> 3, 3 -> 2, 4 -> 1
    # (cos 1.1 / sqrt(2.02) beats 0.1 + 1 ... tie broken by value)
    nearest = (distances + np.diag([np.inf] * 5)).argmin(axis=1)
    assert nearest.tolist() == [1, 0, 3, 2, 1]
    assert neighbour_agreement(distances, categories[None])[0] == pytest.approx(
        4 / 5
    )  # group 4's neighbour is in category 0
    assert silhouettes(distances, categories[None])[0] == pytest.approx(
        silhouette_score(rows, categories, metric="cosine")
    )
    features = np.array([[0.0], [0.0], [1.0], [1.0], [0.5]])
    feature_distances = np.abs(features - features.T)
    upper = np.triu_indices(5, k=1)
    expected = spearmanr(distances[upper], feature_distances[upper]).statistic
    assert rsa(distances, feature_distances, np.arange(5)[None])[0] == pytest.approx(expected)


def test_permutation_baselines_equal_a_brute_force_loop() -> None:
    rng = np.random.default_rng(3)
    rows, categories, features = rng.normal(size=(12, 6)), rng.integers(0, 3, 12), rng.normal(size=(12, 2))
    permutations = 40
    orders = np.random.default_rng(7).permuted(
        np.tile(np.arange(12), (permutations, 1)), axis=1
    )  # what the scores draw
    feature_distances = np.linalg.norm(features[:, None] - features[None], axis=2)
    upper = np.triu_indices(12, k=1)
    distances = cosine_distances(rows)
    brute = {
        "silhouette": [silhouette_score(rows, categories[o], metric="cosine") for o in orders],
        "neighbour": [
            np.mean([categories[o][i] == categories[o][np.argsort(distances[i])[1]] for i in range(12)]) for o in orders
        ],
        "rsa": [spearmanr(distances[upper], feature_distances[np.ix_(o, o)][upper]).statistic for o in orders],
    }
    for score, values in brute.items():
        found = score_with_chance(score, rows, categories, features, permutations=permutations, seed=7)
        assert found.chance == pytest.approx(np.mean(values))
        assert found.chance_p95 == pytest.approx(np.percentile(values, 95))


def test_split_half_reliability_by_hand() -> None:
    half_a = np.array([[1.0, 2.0], [3.0, 0.0], [2.0, 1.0]])
    half_b = np.array([[1.0, 3.0], [2.0, 0.0], [3.0, 0.0]])
    a, b = (half - half.mean(axis=0) for half in (half_a, half_b))  # centred over the groups
    r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert split_half_reliability(np.stack([half_a, half_b])) == pytest.approx(2 * r / (1 + r))
    missing = np.stack([half_a, np.vstack([half_b[:2], [np.nan, np.nan]])])  # group 3 only in half 0
    a2, b2 = (half[:2] - half[:2].mean(axis=0) for half in (half_a, half_b))
    r2 = np.corrcoef(a2.ravel(), b2.ravel())[0, 1]
    assert split_half_reliability(missing) == pytest.approx(2 * r2 / (1 + r2))


def test_both_halves_together_equal_the_whole_profile() -> None:
    x, labels, lengths = frame_batch(4)
    engine = ProfileEngine(["conv"], 3)
    engine.run_batch(frame_model(), (x, labels, lengths))
    sums = engine.sums["conv"]
    torch.testing.assert_close(sums.half_sums.sum(dim=0), sums.sums)
    profiles = engine.result()
    layer = profiles["conv"]
    assert set(np.flatnonzero(layer.half_counts.sum(axis=1))) == {0, 1}  # both halves have data
    weighted = np.nansum(layer.half_means * layer.half_counts[:, :, None], axis=0) / layer.counts[:, None]
    np.testing.assert_allclose(weighted, layer.means, rtol=1e-12)


def test_nap_from_a_two_method_run_equals_a_nap_only_run() -> None:
    x, labels, lengths = frame_batch(5)
    both = ProfileEngine(["conv", "relu"], 3, method=["gradnap", "nap"], input_window=3)
    both.run_batch(frame_model(), (x, labels, lengths))
    alone = ProfileEngine(["conv", "relu"], 3, method="nap")
    alone.run_batch(frame_model(), (x, labels, lengths))
    gradnap = compute_profiles(frame_model(), [(x, labels, lengths)], ["conv", "relu"], 3)
    for layer in ("conv", "relu"):
        np.testing.assert_array_equal(both.result(method="nap")[layer].means, alone.result()[layer].means)
        np.testing.assert_allclose(both.result()[layer].means, gradnap[layer].means, rtol=1e-12)
    assert both.result(method="nap").metadata["method"] == "nap"


def test_two_methods_share_one_file(tmp_path) -> None:
    x, labels, lengths = frame_batch(6)
    engine = ProfileEngine(["conv"], 3, method=["gradnap", "nap"])
    engine.run_batch(frame_model(), (x, labels, lengths))
    combined = Profiles.combine({m: engine.result(method=m) for m in engine.methods})
    loaded = Profiles.load(combined.save(tmp_path / "both.npz"))
    assert loaded.layer_names == ["conv", "nap/conv"] and loaded.metadata["methods"] == ["gradnap", "nap"]
    np.testing.assert_array_equal(loaded.method("nap")["conv"].means, engine.result(method="nap")["conv"].means)
    assert loaded.method("gradnap").layer_names == ["conv"] and loaded.method("other", missing_ok=True) is None
    np.testing.assert_array_equal(loaded["conv"].half_counts, engine.result()["conv"].half_counts)


def test_analysis_reports_chance_input_halves_and_reliability() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    categories = [c for c in "abc" for _ in range(4)]
    halves = np.stack([np.stack([centres[i // 4] + 0.2 * rng.normal(size=16) for i in range(12)]) for _ in range(2)])
    means = halves.mean(axis=0)
    from lightning_gradnap import LayerProfile

    layer = LayerProfile(means - means.mean(axis=0), means, np.full(12, 10.0), halves, np.full((2, 12), 5.0))
    profiles = Profiles({"layer": layer}, list("ABCDEFGHIJKL"), categories)
    result = analyze(profiles, 3, features=np.repeat(np.eye(3), 4, axis=0), input_profile=rng.normal(size=(12, 4)))
    layer_result = result.layers["layer"]
    assert layer_result.scores["neighbour"].value == 1.0 > layer_result.scores["neighbour"].chance_p95
    assert layer_result.scores["silhouette"].value > layer_result.scores["silhouette"].chance_p95
    assert layer_result.scores["rsa"].value > 0.5 and layer_result.reliability > 0.9
    assert set(result.input_scores) == {"silhouette", "neighbour", "rsa"}
    low, high = layer_result.halves["silhouette"]
    assert min(low, high) > layer_result.scores["silhouette"].chance_p95


def test_old_checkpoints_call_stability_drift() -> None:
    history = ProfileHistory()
    history.load(
        {"steps": [3], "epochs": [0], "files": [""], "metrics": {"net.conv1/drift": [0.5], "net.conv1/ami": [0.1]}}
    )
    assert history.state["metrics"] == {"net.conv1/stability": [0.5], "net.conv1/ami": [0.1]}


def test_profile_correlation_ignores_absent_groups() -> None:
    a = np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 1.0]])
    assert profile_correlation(a, 2 * a) == pytest.approx(1.0)
    assert np.isnan(profile_correlation(a, np.full_like(a, np.nan)))


def test_ami_and_its_chance_equal_scikit_learn_on_every_shuffle() -> None:
    from sklearn.metrics import adjusted_mutual_info_score

    from lightning_gradnap.analysis.scores import ami_with_chance

    rng = np.random.default_rng(2)
    categories, clusters = rng.integers(0, 5, 20), rng.integers(0, 4, 20)
    orders = np.random.default_rng(9).permuted(np.tile(np.arange(20), (30, 1)), axis=1)
    shuffled = [adjusted_mutual_info_score(categories[o], clusters) for o in orders]
    found = ami_with_chance(categories, clusters, permutations=30, seed=9)
    assert found.value == pytest.approx(adjusted_mutual_info_score(categories, clusters), abs=1e-12)
    assert found.chance == pytest.approx(np.mean(shuffled), abs=1e-12)
    assert found.chance_p95 == pytest.approx(np.percentile(shuffled, 95), abs=1e-12)


def test_a_profiling_file_holds_both_methods_scores_and_feature_views(tmp_path) -> None:
    from lightning_gradnap.analysis.profiling import profile_state
    from lightning_gradnap.profiles.groups import Groups

    x, labels, lengths = frame_batch(7)
    engine = ProfileEngine(["conv", "relu"], 3, method=["gradnap", "nap"], input_window=3)
    engine.run_batch(frame_model(), (x, labels, lengths))
    profiling = profile_state(engine.contents, engine.state(), Groups(["a", "b", "c"], ["v", "v", "c"]))
    loaded = Profiles.load(profiling.profiles.save(tmp_path / "p.npz"))
    assert loaded.metadata["methods"] == ["gradnap", "nap"] and set(loaded.metadata["scores"]) == {"gradnap", "nap"}
    assert set(loaded.metadata["scores"]["nap"]["relu"]) >= {"reliability", "stability", "silhouette_chance_p95"}
    np.testing.assert_array_equal(loaded.features.means, engine.feature_views().means)
    agreement = profiling.analyses["gradnap"].layers["conv"].method_agreement
    assert agreement == pytest.approx(profile_correlation(loaded["conv"].profile, loaded.method("nap")["conv"].profile))


def test_the_callback_profiles_both_methods_under_their_own_tags(tmp_path) -> None:
    from lightning_gradnap import GradNAPCallback
    from tests.helpers.callback import TinyFrameData, TinyFrameModel, read_events, trainer

    callback = GradNAPCallback(labels="labels", max_batches=2, method=["gradnap", "nap"], views=["profile", "scalars"])
    torch.manual_seed(0)
    run = trainer(tmp_path, [callback], max_epochs=1)
    run.fit(TinyFrameModel(), TinyFrameData())
    events = read_events(run.logger.log_dir)
    for tag in ("gradnap/profile/00_net.conv1", "nap/profile/00_net.conv1"):
        assert [image.step for image in events.Images(tag)] == [0, 3]  # 0: the untrained network
    assert [s.step for s in events.Scalars("gradnap/method_agreement/01_net.conv2")] == [0, 3]
    assert [s.step for s in events.Scalars("gradnap/reliability/01_net.conv2")] == [0, 3]
    saved = Profiles.load(next(tmp_path.glob("**/profiles/*.npz")))
    assert saved.metadata["methods"] == ["gradnap", "nap"] and saved.method("nap").layer_names == [
        "net.conv1",
        "net.conv2",
    ]
