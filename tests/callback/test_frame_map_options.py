"""The callback's ``frame_maps`` (from Python and from YAML) and ``label_rate`` reach the engine."""

from __future__ import annotations

import pytest
from lightning.pytorch.cli import LightningCLI

from lightning_gradnap import GradNAPCallback
from lightning_gradnap.recording.frame_maps import FrameMap
from lightning_gradnap.recording.probe import OUTPUT
from tests.helpers.callback import TinyFrameData, TinyFrameModel, trainer

YAML = """
trainer:
  accelerator: cpu
  callbacks:
    - class_path: lightning_gradnap.GradNAPCallback
      init_args:
        labels: labels
        label_rate: 2
        frame_maps:
          net.conv2: [2, 0.0, 0]
          <output>: [2, 0.0]
"""


def test_frame_maps_and_label_rate_are_read_from_yaml(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(YAML)
    cli = LightningCLI(TinyFrameModel, args=["--config", str(config)], run=False)
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, GradNAPCallback)]
    assert callback.frame_maps == {"net.conv2": FrameMap(2, 0.0, 0), OUTPUT: FrameMap(2, 0.0, None)}
    assert callback.engine_options["label_rate"] == 2


def test_given_frame_maps_are_used_and_the_others_probed(tmp_path) -> None:
    callback = GradNAPCallback(labels="labels", max_batches=1, views=["scalars"], frame_maps={"net.conv2": [2, 0.0, 0]})
    trainer(tmp_path, [callback], max_epochs=1, num_sanity_val_steps=0).fit(TinyFrameModel(), TinyFrameData())
    assert callback.engine is not None and callback.engine.frame_maps is not None
    assert callback.engine.frame_maps["net.conv2"] == FrameMap(2, 0.0, 0)  # given (the probe finds offset 0.5)
    assert callback.engine.frame_maps["net.conv1"] == FrameMap(1, 0.0, 0)  # probed


def test_a_malformed_frame_map_is_an_error_at_construction() -> None:
    with pytest.raises(ValueError, match=r"frame_maps\['net.conv2'\] should be \(stride, offset"):
        GradNAPCallback(labels="labels", frame_maps={"net.conv2": [2]})
