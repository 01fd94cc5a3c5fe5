"""Topographic maps in a tiny Trainer run: the view and its replay for the upper layers, the scores in
TensorBoard and in the files, the layout held from the heatmap's anchor and kept in checkpoints."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from lightning_gradnap import GradNAPCallback, Profiles
from lightning_gradnap.analysis.score_keys import TOPOMAP_SCORES, score_key
from lightning_gradnap.analysis.topomap import topomap_layout
from lightning_gradnap.summary.topomap_views import replay_topomaps
from tests.helpers.callback import LOW_RELIABILITY, TinyFrameData, read_events, trainer
from tests.summary.test_views import LAYERS, STEPS, NamedModel

pytestmark = LOW_RELIABILITY  # tiny runs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("topomap")
    callback = GradNAPCallback(
        labels="labels", max_batches=2, num_clusters=2, views=["profile", "scalars", "topomap"], topomap_layers=2
    )
    torch.manual_seed(0)
    fit = trainer(tmp_path, [callback], max_epochs=3)
    fit.fit(NamedModel(), TinyFrameData())
    return callback, read_events(fit.logger.log_dir), [Profiles.load(p) for p in sorted(tmp_path.glob("**/*.npz"))]


def test_maps_and_replay_of_the_upper_layers_at_every_step(run) -> None:
    _, events, _ = run
    images = set(events.Tags()["images"])
    for index, layer in list(enumerate(LAYERS))[1:]:  # the last two
        for view in ("topomap", "topomap_replay"):
            assert [image.step for image in events.Images(f"gradnap/{view}/{index:02d}_{layer}")] == STEPS
    assert not any(tag.endswith(f"00_{LAYERS[0]}") for tag in images if "/topomap" in tag)


def test_scores_next_to_random_layouts_in_tensorboard_and_files(run) -> None:
    _, events, files = run
    scalars = set(events.Tags()["scalars"])
    for name in TOPOMAP_SCORES:
        for key in (score_key(name), score_key(name, "random")):
            assert f"gradnap/{key}/02_{LAYERS[2]}" in scalars
            assert not any(tag == f"gradnap/{key}/00_{LAYERS[0]}" for tag in scalars)
    for profiles in files:
        saved = profiles.metadata["scores"]["gradnap"]
        assert set(TOPOMAP_SCORES) <= set(saved[LAYERS[2]]) and "topomap_blobs" not in saved[LAYERS[0]]
        smoothness = saved[LAYERS[2]]["topomap_smoothness"]
        assert smoothness is None or 0.0 <= smoothness <= 1.0


def test_layout_is_held_from_the_heatmap_anchor(run) -> None:
    callback, _, files = run
    anchored_layers = []
    for layer in LAYERS[1:]:
        anchors = [int(p.orderings[layer]["tracked_anchor"]) for p in files]
        held = [int(p.orderings[layer]["topomap_anchor"]) for p in files]
        assert held == anchors  # the same rule: anchored at the heatmap's anchor (-1 before)
        anchored = [p for p in files if int(p.orderings[layer]["topomap_anchor"]) >= 0]
        if not anchored:  # no structure yet (net.dense: 6 neurons, 4 groups): no layout is held
            assert layer not in callback.history["topomap"]["layouts"]
            continue
        anchored_layers.append((layer, len(anchored)))
        first = anchored[0].orderings[layer]["topomap_xy"]
        np.testing.assert_allclose(first, topomap_layout(anchored[0][layer].profile))
        for profiles in anchored[1:]:  # the same neuron at the same place
            np.testing.assert_array_equal(profiles.orderings[layer]["topomap_xy"], first)
        assert callback.history["topomap"]["layouts"][layer]["positions"] == first.tolist()
    # conv1 anchors at the first step after training began (the untrained network's never anchors), then holds
    assert anchored_layers == [(LAYERS[1], len(files) - 1)]


def test_checkpoint_keeps_the_layouts_as_plain_data(run) -> None:
    callback, _, _ = run
    history = json.loads(json.dumps(callback.state_dict()["history"]))
    restored = GradNAPCallback(labels="labels", views=["topomap"])
    restored.load_state_dict({"history": {**history, "files": []}})
    assert restored.history["topomap"] == callback.history["topomap"]
    assert restored._history.topomaps.state is restored.history["topomap"]


def test_topomap_is_opt_in_with_a_checked_layer_count() -> None:
    assert "topomap" not in GradNAPCallback().writer.views
    assert GradNAPCallback(views=["topomap"])._history.topomap_layers == 2
    with pytest.raises(ValueError, match="topomap_layers"):
        GradNAPCallback(views=["topomap"], topomap_layers=0)


class ImageRecorder:
    """A view sink that keeps the tags and steps of the images it is given."""

    def __init__(self) -> None:
        self.images: list[tuple[str, int]] = []

    def add_image(self, tag: str, image: np.ndarray, step: int, dataformats: str = "CHW") -> None:
        self.images.append((tag, step))

    def flush(self) -> None:
        pass


def test_replay_keeps_the_mapped_layers_when_the_last_profiling_has_no_layout(run, tmp_path) -> None:
    _, _, files = run
    paths = []
    for index, profiles in enumerate(files):
        if index == len(files) - 1:  # as a profiling whose analysis failed: its file has no layouts
            profiles = copy.copy(profiles)  # the fixture's stay as they are
            profiles.orderings = {
                layer: {key: value for key, value in arrays.items() if not key.startswith("topomap")}
                for layer, arrays in profiles.orderings.items()
            }
        paths.append(profiles.save(tmp_path / f"epoch={index:03d}-step={STEPS[index]:06d}.npz"))
    recorder = ImageRecorder()
    report = replay_topomaps(recorder, paths)
    for index, layer in list(enumerate(LAYERS))[1:]:
        assert [step for tag, step in recorder.images if tag == f"gradnap/topomap_replay/{index:02d}_{layer}"] == STEPS
    assert report.images == len(recorder.images) == 2 * len(STEPS) and report.seconds > 0
