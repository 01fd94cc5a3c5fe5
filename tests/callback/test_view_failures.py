"""Views in a fit that cannot all be drawn: a one-channel layer, and a view that fails (a warning
naming it; the other views are logged)."""

from __future__ import annotations

import warnings

import pytest
from torch import nn

from lightning_gradnap import GradNAPCallback
from lightning_gradnap.figures import plots
from tests.helpers.callback import GROUPS, LOW_RELIABILITY, TinyFrameData, TinyFrameModel, event_steps, trainer
from tests.helpers.views import view_warnings

pytestmark = [
    LOW_RELIABILITY,
    # resumed runs write their checkpoints to one folder
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty:UserWarning"),
    # a setting that never profiles
    pytest.mark.filterwarnings("ignore:You passed in a `val_dataloader` but have no `validation_step`:UserWarning"),
]


class OneChannelLayer(TinyFrameModel):
    def __init__(self) -> None:
        super().__init__()
        self.net.conv2 = nn.Conv1d(8, 1, 3, stride=2, padding=1)
        self.net.out = nn.Conv1d(1, len(GROUPS), 1)


def test_a_one_channel_layer_does_not_crash_fit(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=2, feature_window=5)  # every view, drawn in the background
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback])
        run.fit(OneChannelLayer(), TinyFrameData())
    assert view_warnings(caught) == []
    for view in ("profile", "dendrogram", "groups_2d"):
        assert event_steps(run.logger.log_dir, "images", f"gradnap/{view}/01_net.conv2") == [0, 3, 6]


def test_a_failing_view_is_a_warning_naming_it_and_the_other_views_are_logged(tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("cannot draw this")

    monkeypatch.setattr(plots, "groups_2d_figure", broken)
    callback = GradNAPCallback(labels="labels", max_batches=2, views=["profile", "groups_2d", "scalars"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback])
        run.fit(TinyFrameModel(), TinyFrameData())  # figures in the background thread
    failed = view_warnings(caught)
    assert any(
        "'groups_2d' view of layer 'net.conv2' failed at step 6" in m and "cannot draw this" in m for m in failed
    )
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/01_net.conv2") == [0, 3, 6]
    assert event_steps(run.logger.log_dir, "scalars", "gradnap/stability/01_net.conv2") == [3, 6]
    assert event_steps(run.logger.log_dir, "images", "gradnap/groups_2d/01_net.conv2") == []


def test_a_failing_topomap_costs_its_maps_only(tmp_path, monkeypatch) -> None:
    from lightning_gradnap.figures import topomap

    def broken(*args, **kwargs):
        raise ValueError("cannot lay this out")

    monkeypatch.setattr(topomap.TopomapFrames, "frame", broken)
    views = ["profile", "topomap", "emergence"]
    callback = GradNAPCallback(labels="labels", max_batches=2, views=views, topomap_layers=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = trainer(tmp_path, [callback])
        run.fit(TinyFrameModel(), TinyFrameData())
    failed = view_warnings(caught)
    assert any("'topomap' view of layer 'net.conv2' failed at step 0" in m and "cannot lay this" in m for m in failed)
    assert any("'topomap_replay' view of layer 'net.conv2' failed at step 6" in m for m in failed)  # fit ends
    assert event_steps(run.logger.log_dir, "images", "gradnap/topomap/01_net.conv2") == []
    # the views drawn after the maps in the same job are still logged, at every profiling, and the heatmaps' replay
    assert event_steps(run.logger.log_dir, "images", "gradnap/emergence/silhouette") == [0, 3, 6]
    assert event_steps(run.logger.log_dir, "images", "gradnap/profile/01_net.conv2") == [0, 3, 6]
