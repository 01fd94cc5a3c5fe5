"""One scheme of score keys (analysis/score_keys) and one clustered order (analysis/profile_analysis)."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gradnap import LayerProfile, Profiles, analyze
from lightning_gradnap.analysis.emergence import scalars_layout
from lightning_gradnap.analysis.profile_analysis import LayerAnalysis, clustered_order
from lightning_gradnap.analysis.score_keys import AGAINST, layer_scores, score_key, split_score_key
from lightning_gradnap.analysis.scores import Baseline


def test_score_keys_round_trip() -> None:
    assert score_key("silhouette") == "silhouette"
    assert score_key("silhouette", "chance_p95") == "silhouette_chance_p95"
    for against in AGAINST:
        assert split_score_key(score_key("rsa", against)) == ("rsa", against)
    assert split_score_key("method_agreement") == ("method_agreement", "")
    assert split_score_key("silhouette") == ("silhouette", "")
    with pytest.raises(ValueError, match="read against one of"):
        score_key("rsa", "p95")


def test_layer_scores_are_every_key_the_file_and_the_tags_use() -> None:
    result = LayerAnalysis(np.arange(3), None, np.arange(3), np.arange(2), np.zeros(3, dtype=int))
    result.scores = {"silhouette": Baseline(0.5, 0.1, 0.2)}
    result.halves = {"silhouette": (0.4, 0.6)}
    result.reliability, result.stability = 0.9, 0.8
    result.init = {"silhouette": 0.25}
    values = layer_scores(result, {"silhouette": 0.3})
    assert list(values) == [
        "silhouette",
        "silhouette_chance",
        "silhouette_chance_p95",
        "silhouette_input",
        "silhouette_init",
        "silhouette_half0",
        "silhouette_half1",
        "reliability",
        "stability",
        "method_agreement",
    ]
    assert [values[key] for key in list(values)[:9]] == [0.5, 0.1, 0.2, 0.3, 0.25, 0.4, 0.6, 0.9, 0.8]
    assert np.isnan(values["method_agreement"])
    without = layer_scores(result, {}, halves=False)
    assert "silhouette_half0" not in without and np.isnan(without["silhouette_input"])
    charts = scalars_layout(["silhouette"], "gradnap")["gradnap"]["silhouette"][1]
    assert charts == [
        "gradnap/silhouette/.*",
        "gradnap/silhouette_chance_p95/.*",
        "gradnap/silhouette_input/.*",
        "gradnap/silhouette_init/.*",
    ]


@pytest.mark.parametrize("window", [0, 4])
def test_clustered_order_is_the_analysis_order(window: int) -> None:
    generator = np.random.default_rng(0)
    shape = (6, 5, window) if window else (6, 5)
    profile = generator.normal(size=shape)
    profile[2] = np.nan  # an absent group
    counts = np.array([3.0, 1.0, 0.0, 2.0, 5.0, 1.0])
    analysis = analyze(Profiles({"layer": LayerProfile(profile, profile, counts)}, list("abcdef")), permutations=0)
    groups, neurons = clustered_order(profile)
    np.testing.assert_array_equal(groups, analysis.layers["layer"].group_order)
    np.testing.assert_array_equal(neurons, analysis.layers["layer"].neuron_order)
    assert 2 not in groups.tolist() and sorted(neurons.tolist()) == list(range(5))
