"""Views watched over steps, in tiny Trainer runs read back with TensorBoard's EventAccumulator:
tags in network order, the tracked heatmap held still, the replay, emergence maps, custom scalars."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tensorboard.plugins.custom_scalar import layout_pb2
from torch import nn

from lightning_gradnap import GradNAPCallback, Profiles
from lightning_gradnap.analysis.emergence import METRICS, Scores, emergence_matrix
from lightning_gradnap.summary import views
from tests.helpers.callback import GROUPS, LOW_RELIABILITY, TinyFrameData, TinyFrameModel, read_events, trainer

pytestmark = LOW_RELIABILITY  # tiny runs

LAYERS = ["net.input_conv", "net.conv1", "net.dense"]  # network order; alphabetically conv1, dense, input_conv
STEPS = [0, 3, 6, 9]  # 0: the untrained network, before the first training step


class NamedModel(TinyFrameModel):
    """TinyFrameModel with layer names whose alphabetical order is not the network's."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential()
        self.net.add_module("input_conv", nn.Conv1d(3, 8, 3, padding=1))
        self.net.add_module("relu1", nn.ReLU())
        self.net.add_module("conv1", nn.Conv1d(8, 8, 3, stride=2, padding=1))
        self.net.add_module("relu2", nn.ReLU())
        self.net.add_module("dense", nn.Conv1d(8, 6, 1))
        self.net.add_module("relu3", nn.ReLU())
        self.net.add_module("out", nn.Conv1d(6, len(GROUPS), 1))
        self.profile_layers = list(LAYERS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One 3-epoch fit with the watched views; records every emergence map's values as drawn."""
    tmp_path = tmp_path_factory.mktemp("views")
    drawn: list[tuple[str, list[int], np.ndarray]] = []
    original = views.emergence_figure

    def recording(values, layers, steps, metric, *args, **kwargs):
        drawn.append((metric, list(steps), values.copy()))
        return original(values, layers, steps, metric, *args, **kwargs)

    views.emergence_figure = recording
    try:
        callback = GradNAPCallback(
            labels="labels", max_batches=2, num_clusters=2, views=["profile", "profile_replay", "scalars", "emergence"]
        )
        torch.manual_seed(0)
        fit = trainer(tmp_path, [callback], max_epochs=3)
        fit.fit(NamedModel(), TinyFrameData())
    finally:
        views.emergence_figure = original
    return callback, read_events(fit.logger.log_dir), sorted(tmp_path.glob("**/profiles/*.npz")), drawn


def test_tags_sort_in_network_order(run) -> None:
    callback, events, _, _ = run
    for view in ("profile", "profile_replay"):
        tags = sorted(t for t in events.Tags()["images"] if t.startswith(f"gradnap/{view}/"))
        assert tags == [f"gradnap/{view}/{i:02d}_{layer}" for i, layer in enumerate(LAYERS)]
    for metric in ("silhouette", "ami"):
        tags = sorted(t for t in events.Tags()["scalars"] if t.startswith(f"gradnap/{metric}/"))
        assert tags == [f"gradnap/{metric}/{i:02d}_{layer}" for i, layer in enumerate(LAYERS)]
    assert callback.history["steps"] == STEPS


def test_tracked_rows_and_columns_are_identical_across_steps(run) -> None:
    _, events, files, _ = run
    assert len(files) == len(STEPS)
    loaded = [Profiles.load(path) for path in files]
    anchored = []
    for layer in LAYERS:
        orders = [profiles.orderings[layer] for profiles in loaded]
        anchors = [int(order["tracked_anchor"]) for order in orders]
        held = [order for order, anchor in zip(orders, anchors, strict=True) if anchor >= 0]
        assert anchors == [-1] * (len(orders) - len(held)) + [anchors[-1]] * len(held)  # anchored once, then kept
        anchored += [layer] if held else []
        for order in orders:
            np.testing.assert_array_equal(order["tracked_groups"], [0, 1, 2, 3])  # vowel, vowel, plosive, fricative
            if int(order["tracked_anchor"]) >= 0:
                np.testing.assert_array_equal(order["tracked_neurons"], held[0]["tracked_neurons"])
        images = events.Images(f"gradnap/profile/{LAYERS.index(layer):02d}_{layer}")
        assert [image.step for image in images] == STEPS
        assert len({(image.width, image.height) for image in images}) == 1
    assert anchored  # a layer whose groups differ by more than chance is anchored at that profiling


def test_replay_logs_one_image_per_layer_and_step(run) -> None:
    _, events, _, _ = run
    for index, layer in enumerate(LAYERS):
        assert [image.step for image in events.Images(f"gradnap/profile_replay/{index:02d}_{layer}")] == STEPS


def test_emergence_maps_hold_the_logged_scalars(run) -> None:
    callback, events, _, drawn = run
    for metric in METRICS:
        logged = np.full((len(LAYERS), len(STEPS)), np.nan)
        for row, layer in enumerate(LAYERS):
            tag = f"gradnap/{metric}/{row:02d}_{layer}"
            for scalar in events.Scalars(tag) if tag in events.Tags()["scalars"] else []:
                logged[row, STEPS.index(scalar.step)] = scalar.value
        maps = [(steps, values) for name, steps, values in drawn if name == metric]
        assert [steps for steps, _ in maps] == [STEPS[: i + 1] for i in range(len(STEPS))]  # grows with the run
        for steps, values in maps:
            np.testing.assert_allclose(values, logged[:, : len(steps)], rtol=1e-6, equal_nan=True)
        history = Scores(callback.history["steps"], callback.history["metrics"])
        np.testing.assert_allclose(emergence_matrix(history, LAYERS, metric), logged, rtol=1e-6, equal_nan=True)
        assert [image.step for image in events.Images(f"gradnap/emergence/{metric}")] == STEPS


def test_custom_scalars_layout_has_a_chart_per_metric_with_every_layer(run) -> None:
    _, events, _, _ = run
    layout = layout_pb2.Layout.FromString(events.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert set(charts) == set(METRICS)
    import re

    scalar_tags = events.Tags()["scalars"]
    for metric, (pattern, *against) in charts.items():
        matched = sorted(tag for tag in scalar_tags if re.match(pattern, tag))
        assert matched == sorted(tag for tag in scalar_tags if tag.startswith(f"gradnap/{metric}/"))
        for kind, other in zip(
            ("chance_p95", "input", "init"), against, strict=True
        ):  # read against chance, the input and the untrained network, where logged
            assert sorted(t for t in scalar_tags if re.match(other, t)) == sorted(
                t for t in scalar_tags if t.startswith(f"gradnap/{metric}_{kind}/")
            )


def test_checkpoint_keeps_the_anchors_as_plain_data(run) -> None:
    callback, _, _, _ = run
    state = json.loads(json.dumps(callback.state_dict()["history"]["tracking"]))
    restored = GradNAPCallback(labels="labels")
    restored.load_state_dict({"history": {**callback.state_dict()["history"], "files": [], "tracking": state}})
    assert restored.tracker.state["anchors"] == callback.tracker.state["anchors"]


def test_clustered_heatmap_is_its_own_view_on_request(tmp_path) -> None:
    assert "profile_clustered" not in GradNAPCallback().writer.views
    assert {"profile", "profile_replay", "emergence"} <= set(GradNAPCallback().writer.views)
    callback = GradNAPCallback(labels="labels", max_batches=1, num_clusters=2, views=["profile_clustered"])
    torch.manual_seed(0)
    fit = trainer(tmp_path, [callback], max_epochs=1)
    fit.fit(TinyFrameModel(), TinyFrameData())
    assert sorted(read_events(fit.logger.log_dir).Tags()["images"]) == [
        "gradnap/profile_clustered/00_net.conv1",
        "gradnap/profile_clustered/01_net.conv2",
    ]


def test_redrawn_frames_equal_new_figures_pixel_for_pixel() -> None:
    from lightning_gradnap.figures.plots import figure_to_array
    from lightning_gradnap.figures.tracked import LayerFrames, tracked_heatmap

    rng = np.random.default_rng(0)
    names, categories = ["aa", "iy", "p", "s", "m"], ["vowel", "vowel", "stop", "fricative", "nasal"]
    steps = [rng.normal(size=(5, 12)) for _ in range(3)]
    steps[1][2] = np.nan  # a group without frames at this step: a grey row
    groups, neurons = [0, 1, 2, 3, 4], rng.permutation(12)
    options = dict(group_categories=categories, value_label="gradnap", columns_label="12 neurons, held")
    frames = LayerFrames(steps[0], names, groups, neurons, **options)
    for index, profile in enumerate(steps):
        expected = figure_to_array(tracked_heatmap(profile, names, groups, neurons, f"step {index}", **options))
        np.testing.assert_array_equal(frames.frame(profile, f"step {index}"), expected)
