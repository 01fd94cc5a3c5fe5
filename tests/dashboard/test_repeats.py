"""``validate()`` after ``fit`` at the same step (on other data): its ``-validate-1`` file is an entry of its own in
the tab and the report, and the fit's files alone give the final step's clustering and the emergence map."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from lightning_gradnap import GradNAPCallback, Profiles
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.plugin import GradNAPLoader
from lightning_gradnap.dashboard.report import requests
from tests.helpers.callback import TinyFrameData, TinyFrameModel, frame_batches, trainer

PREFIX = "/data/plugin/gradnap"


def get(client: Client, route: str, **params) -> bytes:
    response = client.get(f"{PREFIX}/{route}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def test_a_validate_repeat_at_the_fits_last_step_is_its_own_entry(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, data = TinyFrameModel(), TinyFrameData()
    run = trainer(tmp_path / "logs", [GradNAPCallback(labels="labels", max_batches=1, views=[])])
    run.fit(model, data)
    other = TinyFrameData()
    other.val = frame_batches(2, seed=7)  # other data, the same step
    run.validate(model, other)
    profiles = Path(run.logger.log_dir) / "profiles"
    fit_only = tmp_path / "fit_only" / "version_0" / "profiles"
    fit_only.mkdir(parents=True)
    for path in profiles.glob("*.npz"):
        if "validate" not in path.name:
            shutil.copy2(path, fit_only / path.name)
    client = Client(
        application.TensorBoardWSGI([GradNAPLoader().load(base_plugin.TBContext(logdir=str(tmp_path / "logs")))])
    )
    name = "tb/version_0"

    info = json.loads(get(client, "run", run=name))
    entries = [(s["step"], s["repeat"]) for s in info["steps"]]
    assert entries == [(0, ""), (3, ""), (6, ""), (6, "validate-1")]  # 0: the untrained network
    at = {"run": name, "method": "gradnap", "layer": "net.conv2"}
    repeat = Profiles.load(next(profiles.glob("*-step=000006-validate-1.npz")))["net.conv2"].profile
    fitted = Profiles.load(profiles / "epoch=001-step=000006.npz")["net.conv2"].profile
    assert not np.allclose(repeat, fitted)
    shown = np.frombuffer(get(client, "matrix", **at, step=6, repeat="validate-1"), "<f4").reshape(repeat.shape)
    np.testing.assert_array_equal(shown, repeat.astype(np.float32))
    shown = np.frombuffer(get(client, "matrix", **at, step=6), "<f4").reshape(fitted.shape)
    np.testing.assert_array_equal(shown, fitted.astype(np.float32))

    alone = Dashboard(tmp_path / "fit_only")
    for step, params in ((3, {}), (6, {}), (6, {"repeat": "validate-1"})):
        final = json.loads(get(client, "order", **at, step=step, kind="final", **params))
        assert final == alone.order("version_0", "gradnap", "net.conv2", 6, "final")
    emergence = json.loads(get(client, "emergence", run=name, method="gradnap"))
    assert emergence["steps"] == [0, 3, 6]  # no second column at step 6
    assert emergence["scores"] == alone.emergence("version_0", "gradnap")["scores"]
    assert ("matrix", {**at, "step": "6", "repeat": "validate-1"}) in list(requests(Dashboard(tmp_path / "logs")))
