"""``split_by_correctness`` in a tiny Trainer run: the right/wrong view, the score, the file, the dashboard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch.cli import LightningCLI

from lightning_gradnap import GradNAPCallback, Profiles
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.routes import run_info
from lightning_gradnap.profiles.groups import split_group_names
from tests.helpers.callback import GROUPS, LOW_RELIABILITY, TinyFrameData, TinyFrameModel, read_events, trainer

pytestmark = [LOW_RELIABILITY, pytest.mark.filterwarnings("ignore:.*groups have no frames:UserWarning")]

PNG = b"\x89PNG\r\n\x1a\n"
YAML = """
trainer:
  accelerator: cpu
  callbacks:
    - class_path: lightning_gradnap.GradNAPCallback
      init_args:
        labels: labels
        split_by_correctness: true
        group_classes: [0, [1], 2, 3]
        blank_frames: ignore
"""


def test_a_fit_with_the_split_writes_the_view_the_score_and_2g_groups(tmp_path) -> None:
    torch.manual_seed(0)
    callback = GradNAPCallback(labels="labels", max_batches=3, num_clusters=2, split_by_correctness=True)
    run = trainer(tmp_path, [callback], max_epochs=2)
    both_layers = "right_wrong is NaN in net.conv1, net.conv2: no group has frames both right and wrong"  # one warning
    with pytest.warns(RuntimeWarning, match=both_layers):
        run.fit(TinyFrameModel(), TinyFrameData())  # a frame classifier: 4 classes for 4 groups, no blank
    events = read_events(run.logger.log_dir)
    for layer in ("00_net.conv1", "01_net.conv2"):
        images = events.Images(f"gradnap/errors/{layer}")
        assert [image.step for image in images] == [0, 3, 6]  # 0: the untrained network
        assert images[0].encoded_image_string.startswith(PNG) and images[0].height >= 300
        values = {event.step: event.value for event in events.Scalars(f"gradnap/right_wrong/{layer}")}
        noise = {event.step: event.value for event in events.Scalars(f"gradnap/right_wrong_noise/{layer}")}
        assert list(values) == list(noise) == [0, 3]  # at step 6 the model is right at every frame: NaN, not logged
        assert all(0 <= v <= 2 for v in [*values.values(), *noise.values()])
        assert [image.step for image in events.Images(f"gradnap/profile/{layer}")] == [0, 3, 6]  # views of 2G groups
    files = sorted(tmp_path.glob("**/profiles/*.npz"))
    saved = Profiles.load(files[0])
    assert saved.group_names == split_group_names(GROUPS)
    assert saved["net.conv1"].profile.shape[0] == 2 * len(GROUPS)
    assert saved.metadata["split_by_correctness"] is True
    scores = saved.metadata["scores"]["gradnap"]["net.conv2"]
    assert np.isfinite(scores["right_wrong"]) and "right_wrong_noise" in scores
    dashboard = Dashboard(tmp_path)
    (name,) = dashboard.runs()
    info = run_info(dashboard, name)
    assert info["groups"] == split_group_names(GROUPS)
    assert dashboard.matrix(name, "gradnap", "net.conv1", 3).shape[0] == 2 * len(GROUPS)
    emergence = dashboard.emergence(name, "gradnap")
    assert "right_wrong" in emergence["scores"] and "right_wrong_noise" not in emergence["scores"]


def test_the_options_are_read_from_yaml(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    cli = LightningCLI(TinyFrameModel, args=["--config", str(config)], run=False)
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, GradNAPCallback)]
    options = callback.engine_options
    assert options["split_by_correctness"] is True and options["blank_frames"] == "ignore"
    assert options["group_classes"] == ((0,), (1,), (2,), (3,))


def test_option_errors_at_construction() -> None:
    with pytest.raises(ValueError, match="blank_frames"):
        GradNAPCallback(split_by_correctness=True, blank_frames="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs split_by_correctness=True"):
        GradNAPCallback(group_classes=[0, 1])
