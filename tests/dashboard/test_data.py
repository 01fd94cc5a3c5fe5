"""The dashboard's data: runs and files, the (path, mtime) cache, and orderings and scores that
come from the files when saved and from lightning_gradnap.analysis.profile_analysis otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap.analysis.profile_analysis import analyze, stability
from lightning_gradnap.dashboard.cache import ArrayCache
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.files import find_runs, list_files
from lightning_gradnap.profiles.result import LayerProfile, Profiles
from tests.helpers.dashboard import make_run

STEPS = (10, 20, 30)
LAYERS = ("model.conv1", "model.conv2", "model.dense")
FALLBACK = "; no file holds a tracked ordering: the final step's, for every step"


@pytest.fixture
def run(tmp_path: Path) -> tuple[Dashboard, dict[int, Profiles]]:
    written = make_run(tmp_path / "logs" / "version_0" / "profiles", STEPS)
    # recheck_seconds=0: the tests rewrite files in place and look at once
    return Dashboard(tmp_path / "logs", num_clusters=3, recheck_seconds=0.0), written


def add_keys(path: Path, extra: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Rewrite a profile file with more arrays (as other writers of the format may add)."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    if metadata is not None:
        arrays["metadata"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays, **extra)


def test_runs_are_log_directories_or_plain_folders_of_files(tmp_path: Path) -> None:
    make_run(tmp_path / "logs" / "version_0" / "profiles", (1,))
    make_run(tmp_path / "logs" / "version_1" / "profiles", (1,))
    make_run(tmp_path / "logs" / "by_hand", (1,))
    (tmp_path / "logs" / "empty").mkdir()
    assert list(find_runs(tmp_path / "logs")) == ["by_hand", "version_0", "version_1"]
    assert list(find_runs(tmp_path / "logs" / "version_1")) == ["version_1"]  # one run's log directory
    assert list(find_runs(tmp_path / "logs" / "version_1" / "profiles")) == ["version_1"]
    assert list(find_runs(tmp_path / "logs" / "by_hand")) == ["by_hand"]
    assert find_runs(tmp_path / "missing") == {}


def test_files_go_by_step_and_files_saved_by_hand_by_name(tmp_path: Path) -> None:
    make_run(tmp_path / "run", (200, 30, 1000))
    assert [(f.step, f.epoch) for f in list_files(tmp_path / "run")] == [(30, 1), (200, 0), (1000, 2)]
    profiles = make_run(tmp_path / "scratch", (5,))[5]
    (tmp_path / "scratch" / "epoch=000-step=000005.npz").unlink()
    for name in ("b", "a", "c"):
        profiles.save(tmp_path / "scratch" / f"{name}.npz")
    assert [(f.path.name, f.step, f.epoch) for f in list_files(tmp_path / "scratch")] == [
        ("a.npz", 0, None),
        ("b.npz", 1, None),
        ("c.npz", 2, None),
    ]


def test_matrix_is_the_saved_profile_in_float32(run) -> None:
    dashboard, written = run
    for step in STEPS:
        for layer in LAYERS:
            expected = written[step][layer].profile.astype(np.float32)
            np.testing.assert_array_equal(dashboard.matrix("version_0", "gradnap", layer, step), expected)
    assert np.isnan(dashboard.matrix("version_0", "gradnap", "model.dense", 10)[5]).all()  # the absent group


def test_computed_orderings_and_scores_are_those_of_analyze(run) -> None:
    dashboard, written = run
    for step in STEPS:
        analysis = analyze(written[step], num_clusters=3)
        for layer in LAYERS:
            expected = analysis.layers[layer]
            order = dashboard.order("version_0", "gradnap", layer, step, "step")
            absent = [g for g in range(6) if g not in expected.present]
            assert order["groups"] == expected.group_order.tolist() + absent
            assert order["neurons"] == expected.neuron_order.tolist()
            assert order["source"] == f"step {step}'s clustering (computed)"
            file = dashboard.file_at("version_0", "gradnap", layer, step)
            clustering = dashboard.clustering(file, "gradnap", layer)
            # the rows are rotated onto their span first: the scores stay, to rounding
            assert clustering["silhouette"] == pytest.approx(expected.silhouette, abs=1e-12)
            assert clustering["ami"] == pytest.approx(expected.ami, abs=1e-12)
            tree = dashboard.tree("version_0", "gradnap", layer, step)
            assert tree["leaves"] == expected.group_order.tolist()
            assert len(tree["icoord"]) == len(expected.present) - 1


def test_tracked_ordering_is_the_final_steps_clustering_until_files_carry_one(run) -> None:
    dashboard, _ = run
    final = dashboard.order("version_0", "gradnap", "model.conv2", 30, "step")
    for step in STEPS:
        for kind in ("tracked", "final"):
            order = dashboard.order("version_0", "gradnap", "model.conv2", step, kind)
            assert (order["groups"], order["neurons"]) == (final["groups"], final["neurons"])
            assert order["source"] == "step 30's clustering (computed)" + (FALLBACK if kind == "tracked" else "")
    first = dashboard.order("version_0", "gradnap", "model.conv2", 10, "step")
    assert (first["groups"], first["neurons"]) != (final["groups"], final["neurons"])


def test_saved_orderings_are_used_as_they_are(run, tmp_path: Path) -> None:
    dashboard, _ = run
    path = tmp_path / "logs" / "version_0" / "profiles" / "epoch=000-step=000010.npz"
    tracked = {"tracked_groups_1": np.array([5, 4, 3, 2, 1, 0]), "tracked_neurons_1": np.arange(24)[::-1]}
    add_keys(path, {**tracked, "cluster_groups_1": np.array([1, 0, 2]), "cluster_neurons_1": np.arange(24)})
    order = dashboard.order("version_0", "gradnap", "model.conv2", 10, "tracked")
    assert order == {"groups": [5, 4, 3, 2, 1, 0], "neurons": list(range(23, -1, -1)), "source": "tracked (saved)"}
    order = dashboard.order("version_0", "gradnap", "model.conv2", 10, "step")
    assert order["groups"] == [1, 0, 2, 3, 4, 5]  # groups a saved order leaves out come last
    assert order["source"] == "step 10's clustering (saved)"
    assert (
        dashboard.order("version_0", "gradnap", "model.conv2", 20, "tracked")["source"]
        == "step 30's clustering (computed)" + FALLBACK
    )
    recomputed = Dashboard(dashboard.root, num_clusters=3, recompute=True, recheck_seconds=0.0)
    assert (
        recomputed.order("version_0", "gradnap", "model.conv2", 10, "tracked")["source"]
        == "step 30's clustering (computed)" + FALLBACK
    )


def test_nap_files_and_a_second_method_in_one_file(run, tmp_path: Path) -> None:
    dashboard, written = run
    folder = tmp_path / "logs" / "version_0" / "profiles"
    nap = np.arange(6 * 16, dtype=float).reshape(6, 16)
    path = folder / "epoch=002-step=000030.npz"
    gradnap = Profiles.load(path)
    nap_profiles = Profiles(
        {"model.conv1": LayerProfile(nap, nap, np.ones(6))},
        gradnap.group_names,
        gradnap.group_categories,
        {"method": "nap"},
    )
    Profiles.combine({"gradnap": gradnap, "nap": nap_profiles}).save(path)  # as method=["gradnap", "nap"] writes it
    header = dashboard.header(dashboard.files("version_0")[-1])
    assert dashboard.methods(header) == ["gradnap", "nap"]
    np.testing.assert_array_equal(dashboard.matrix("version_0", "nap", "model.conv1", 30), nap.astype(np.float32))
    assert [f.step for f in dashboard.method_files("version_0", "nap")] == [30]
    np.testing.assert_array_equal(
        dashboard.matrix("version_0", "gradnap", "model.conv1", 30),
        written[30]["model.conv1"].profile.astype(np.float32),
    )
    add_keys(folder / "epoch=000-step=000010.npz", {}, metadata={"method": "nap"})
    assert dashboard.methods(dashboard.header(dashboard.files("version_0")[0])) == ["nap"]


def test_colour_scale_is_the_largest_quantile_over_the_run(run) -> None:
    dashboard, written = run
    expected = max(np.nanquantile(np.abs(written[step]["model.dense"].profile), 0.99) for step in STEPS)
    assert dashboard.scale("version_0", "gradnap", "model.dense") == pytest.approx(expected, rel=1e-15)


def test_emergence_scores_are_analyze_scores_and_the_stability(run) -> None:
    dashboard, written = run
    result = dashboard.emergence("version_0", "gradnap")
    assert result["layers"] == list(LAYERS) and result["steps"] == list(STEPS)
    assert result["computed"] == ["ami", "silhouette", "stability"] and result["chance"] == {}
    for column, step in enumerate(STEPS):
        analysis = analyze(written[step], num_clusters=3)
        for row, layer in enumerate(LAYERS):
            assert result["scores"]["silhouette"][row][column] == pytest.approx(
                analysis.layers[layer].silhouette, abs=1e-12
            )
            assert result["scores"]["ami"][row][column] == pytest.approx(analysis.layers[layer].ami, abs=1e-12)
            expected = (
                None
                if column == 0
                else stability(written[STEPS[column - 1]][layer].profile, written[step][layer].profile)
            )
            assert result["scores"]["stability"][row][column] == expected


def test_saved_scores_are_used_with_their_chance_levels_and_init(run, tmp_path: Path) -> None:
    dashboard, _ = run
    path = tmp_path / "logs" / "version_0" / "profiles" / "epoch=001-step=000020.npz"
    scores = {
        "model.conv1": {
            "silhouette": 0.5,
            "silhouette_chance": 0.01,
            "silhouette_init": 0.3,
            "silhouette_input": 0.2,
            "ami": 0.25,
            "reliability": 0.9,
        }
    }
    add_keys(path, {}, metadata={"method": "gradnap", "scores": scores})
    result = dashboard.emergence("version_0", "gradnap")
    assert result["scores"]["silhouette"][0][1] == 0.5 and result["scores"]["ami"][0][1] == 0.25
    assert result["chance"]["silhouette"][0] == [None, 0.01, None]
    assert result["init"]["silhouette"][0] == [None, 0.3, None]  # the untrained network's, beside chance
    assert "silhouette_input" not in result["scores"] and "silhouette_init" not in result["scores"]
    assert result["scores"]["reliability"][0] == [None, 0.9, None]


def test_time_resolved_profiles_show_their_mean_over_the_window(tmp_path: Path) -> None:
    windows = np.random.default_rng(1).normal(size=(4, 5, 7))
    Profiles({"conv": LayerProfile(windows, windows, np.ones(4))}, list("abcd")).save(tmp_path / "x.npz")
    dashboard = Dashboard(tmp_path)
    np.testing.assert_array_equal(
        dashboard.matrix(tmp_path.name, "gradnap", "conv", 0), windows.mean(axis=2).astype(np.float32)
    )


def test_a_rewritten_file_is_read_again(run, tmp_path: Path) -> None:
    dashboard, written = run
    path = tmp_path / "logs" / "version_0" / "profiles" / "epoch=002-step=000030.npz"
    before = dashboard.matrix("version_0", "gradnap", "model.conv1", 30)
    assert dashboard.matrix("version_0", "gradnap", "model.conv1", 30) is before  # cached
    changed = written[30].layers["model.conv1"]
    written[30].layers["model.conv1"] = LayerProfile(changed.profile + 1, changed.means, changed.counts)
    written[30].save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock may not tick
    expected = (changed.profile + 1).astype(np.float32)
    np.testing.assert_array_equal(dashboard.matrix("version_0", "gradnap", "model.conv1", 30), expected)


def test_a_listing_is_trusted_until_its_folder_changes_or_it_is_old(tmp_path: Path) -> None:
    written = make_run(tmp_path / "run", STEPS)
    dashboard = Dashboard(tmp_path / "run", recheck_seconds=3600.0)
    assert [f.step for f in dashboard.files("run")] == list(STEPS)
    path = tmp_path / "run" / "epoch=000-step=000010.npz"
    add_keys(path, {}, metadata={"method": "nap"})  # rewritten in place: the folder does not change
    assert dashboard.methods(dashboard.header(dashboard.files("run")[0])) == ["gradnap"]
    written[30].save(tmp_path / "run" / "epoch=003-step=000040.npz")  # renamed into the folder
    assert [f.step for f in dashboard.files("run")] == [*STEPS, 40]
    assert dashboard.methods(dashboard.header(dashboard.files("run")[0])) == ["nap"]
    dashboard.index.recheck_seconds = 0.0
    add_keys(path, {}, metadata={"method": "gradnap"})
    assert dashboard.methods(dashboard.header(dashboard.files("run")[0])) == ["gradnap"]


def test_cache_stays_within_its_budget(tmp_path: Path) -> None:
    make_run(tmp_path, STEPS)
    cache = ArrayCache(max_bytes=6 * 16 * 8 * 2)  # two float64 [6, 16] arrays
    for file in list_files(tmp_path):
        cache.array(file.path, "profile_0")
    assert len(cache._items) == 2 and cache._bytes <= cache.max_bytes


def test_unknown_names_and_unreadable_files_say_what_there_is(run, tmp_path: Path) -> None:
    dashboard, _ = run
    with pytest.raises(KeyError, match=r"no run 'nope'; runs: \['version_0'\]"):
        dashboard.files("nope")
    with pytest.raises(KeyError, match=r"steps: \[10, 20, 30\]"):
        dashboard.matrix("version_0", "gradnap", "model.conv1", 11)
    with pytest.raises(KeyError, match="ordering should be one of"):
        dashboard.order("version_0", "gradnap", "model.conv1", 10, "sideways")
    with pytest.raises(KeyError, match="has no 'nap' profile"):
        dashboard.matrix("version_0", "nap", "model.conv1", 10)
    (tmp_path / "logs" / "version_0" / "profiles" / "epoch=003-step=000040.npz").write_bytes(b"not a zip")
    # a broken file is left out of its run (issue 25, point 5), named with the reason; the rest shows
    assert [file.step for file in dashboard.method_files("version_0", "gradnap")] == [10, 20, 30]
    (skipped, error), *others = dashboard.index.skipped("version_0")
    assert not others and skipped.path.name == "epoch=003-step=000040.npz"
    assert "step=000040.npz' is not a readable profile file (" in str(error)
