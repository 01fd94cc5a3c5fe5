"""The TensorBoard plugin: its routes through werkzeug's test client (against the .npz values),
the tab's activation, a run that grows, and the plugin inside a real TensorBoard on 127.0.0.1."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from lightning_gradnap.dashboard import plugin as plugin_module
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.plugin import STATIC, GradNAPLoader, GradNAPPlugin
from tests.helpers.dashboard import add_feature_views, make_run, tensorboard
from tests.helpers.no_lightning import BLOCK_LIGHTNING
from tests.helpers.paths import ROOT

PREFIX = "/data/plugin/gradnap"
STEPS = (10, 20, 30)


def client_for(logdir: Path) -> tuple[Client, GradNAPPlugin]:
    plugin = GradNAPLoader().load(base_plugin.TBContext(logdir=str(logdir)))
    return Client(application.TensorBoardWSGI([plugin])), plugin


@pytest.fixture
def logdir(profile_logdir) -> Path:
    return profile_logdir(STEPS)


def get_json(client: Client, route: str, **params) -> dict:
    response = client.get(f"{PREFIX}/{route}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.get_data())


def get_floats(client: Client, route: str, **params) -> np.ndarray:
    response = client.get(f"{PREFIX}/{route}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/octet-stream"
    return np.frombuffer(response.get_data(), dtype="<f4")


def test_routes_answer_with_the_npz_values(logdir: Path) -> None:
    client, _ = client_for(logdir)
    assert get_json(client, "runs") == {"runs": ["version_0"]}
    info = get_json(client, "run", run="version_0")
    assert [s["step"] for s in info["steps"]] == list(STEPS) and [s["epoch"] for s in info["steps"]] == [0, 1, 2]
    assert info["layers"] == [
        {"name": "model.conv1", "neurons": 16},
        {"name": "model.conv2", "neurons": 24},
        {"name": "model.dense", "neurons": 12},
    ]
    assert info["groups"] == ["AA", "IY", "S", "SH", "M", "N"] and info["categories"][2] == "fricative"
    assert info["methods"] == ["gradnap"] and info["features"] is None
    dashboard = Dashboard(logdir)
    for step in STEPS:
        with np.load(logdir / "version_0" / "profiles" / f"epoch={STEPS.index(step):03d}-step={step:06d}.npz") as data:
            for index, layer in enumerate(("model.conv1", "model.conv2", "model.dense")):
                at = {"run": "version_0", "method": "gradnap", "layer": layer, "step": step}
                values = get_floats(client, "matrix", **at).reshape(6, -1)
                np.testing.assert_array_equal(values, data[f"profile_{index}"].astype(np.float32))
                for kind in ("tracked", "step", "final"):
                    assert get_json(client, "order", **at, kind=kind) == dashboard.order(*at.values(), kind)
                assert get_json(client, "tree", **at)["leaves"] == dashboard.tree(*at.values())["leaves"]
    at = {"run": "version_0", "method": "gradnap", "layer": "model.dense"}
    assert get_json(client, "scale", **at) == {"scale": dashboard.scale(*at.values())}
    emergence = get_json(client, "emergence", run="version_0", method="gradnap")
    assert emergence["scores"]["stability"][2][0] is None  # no previous profiling: null, never NaN


def test_feature_views_are_served_when_the_file_has_them(logdir: Path) -> None:
    views = add_feature_views(logdir / "version_0" / "profiles" / "epoch=002-step=000030.npz")
    means, weighted, overall = views["feature_means"], views["feature_weighted_means"], views["feature_overall"]
    client, _ = client_for(logdir)
    info = get_json(client, "run", run="version_0")
    assert info["features"] == {"bins": 4, "window": 5, "weighted": True}
    assert [s["features"] for s in info["steps"]] == [False, False, True]
    views = get_floats(client, "features", run="version_0", step=30, group=2).reshape(2, 4, 5)
    np.testing.assert_array_equal(views[0], (means[2] - overall).astype(np.float32))
    np.testing.assert_array_equal(views[1], weighted[2].astype(np.float32))
    response = client.get(f"{PREFIX}/features", query_string={"run": "version_0", "step": 10, "group": 2})
    assert response.status_code == 404 and "no input-feature views" in response.get_data(as_text=True)


def test_bad_requests_are_answered_with_what_is_wrong(logdir: Path) -> None:
    client, _ = client_for(logdir)
    cases = [
        ("matrix", {"run": "version_0", "method": "gradnap", "layer": "model.conv1"}, 400, "'step' is required"),
        (
            "matrix",
            {"run": "version_0", "method": "gradnap", "layer": "model.conv1", "step": "x"},
            400,
            "should be an integer",
        ),
        ("run", {"run": "version_9"}, 404, "runs: ['version_0']"),
        ("matrix", {"run": "version_0", "method": "gradnap", "layer": "conv9", "step": 10}, 404, "of layer 'conv9'"),
        (
            "order",
            {"run": "version_0", "method": "gradnap", "layer": "model.conv1", "step": 10, "kind": "x"},
            404,
            "ordering should be one of",
        ),
    ]
    for route, params, status, message in cases:
        response = client.get(f"{PREFIX}/{route}", query_string=params)
        assert (response.status_code, message in response.get_data(as_text=True)) == (status, True), response.get_data(
            as_text=True
        )
    (logdir / "version_0" / "profiles" / "epoch=003-step=000040.npz").write_bytes(b"truncated")
    response = client.get(f"{PREFIX}/run", query_string={"run": "version_0"})  # the broken file is skipped, by name
    assert response.status_code == 200 and [entry["file"] for entry in response.get_json()["skipped"]] == [
        "epoch=003-step=000040.npz"
    ]


def test_tab_is_active_once_a_run_has_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_module, "RECHECK_SECONDS", 0.0)
    (tmp_path / "logs" / "version_0").mkdir(parents=True)
    client, plugin = client_for(tmp_path / "logs")

    def listing() -> dict:
        response = client.get("/data/plugins_listing")
        return json.loads(response.get_data())["gradnap"]

    assert listing()["enabled"] is False
    make_run(tmp_path / "logs" / "version_0" / "profiles", (5,))
    entry = listing()
    assert entry["enabled"] is True and entry["tab_name"] == "GradNAP"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/gradnap/index.js"}
    without_logdir = GradNAPLoader().load(base_plugin.TBContext(logdir=""))
    assert without_logdir.is_active() is False
    response = Client(application.TensorBoardWSGI([without_logdir])).get(f"{PREFIX}/runs")
    assert response.status_code == 404 and "no local --logdir" in response.get_data(as_text=True)


def test_a_training_run_shows_its_new_profilings_and_nothing_is_written(logdir: Path) -> None:
    def snapshot() -> dict[str, tuple[int, int]]:
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in logdir.rglob("*")}

    client, _ = client_for(logdir)
    before = snapshot()
    assert [s["step"] for s in get_json(client, "run", run="version_0")["steps"]] == list(STEPS)
    at = {"run": "version_0", "method": "gradnap", "layer": "model.conv2", "step": 30}
    get_floats(client, "matrix", **at)
    get_json(client, "order", **at, kind="tracked")
    get_json(client, "emergence", run="version_0", method="gradnap")
    assert snapshot() == before  # the plugin reads the files and writes nothing, events included
    newer = make_run(logdir / "version_0" / "later", (40,), seed=7)[40]  # written elsewhere, then moved in
    newer.save(logdir / "version_0" / "profiles" / "epoch=003-step=000040.npz")
    assert [s["step"] for s in get_json(client, "run", run="version_0")["steps"]] == [*STEPS, 40]
    values = get_floats(client, "matrix", **{**at, "step": 40}).reshape(6, 24)
    np.testing.assert_array_equal(values, newer["model.conv2"].profile.astype(np.float32))
    assert get_json(client, "order", **at, kind="tracked")["source"].startswith(
        "step 40's clustering (computed); no file holds a tracked"
    )


def test_front_end_files_are_served_and_their_imports_resolve(logdir: Path) -> None:
    client, _ = client_for(logdir)
    for path in sorted(STATIC.iterdir()):
        response = client.get(f"{PREFIX}/{path.name}")
        assert response.status_code == 200 and response.get_data() == path.read_bytes()
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if path.suffix == ".js":
            assert response.headers["Content-Type"].startswith("text/javascript")
            for module in re.findall(r'from "\./([\w.]+)"', path.read_text()):
                assert (STATIC / module).is_file(), f"{path.name} imports a missing {module}"
            assert not re.search(r"https?://", path.read_text()), f"{path.name} names an outside address"


def test_tensorboard_program_serves_the_tab(logdir: Path) -> None:
    with tensorboard(logdir) as url:
        assert url.startswith("http://127.0.0.1:")

        def read(path: str) -> bytes:
            with urllib.request.urlopen(url + path, timeout=30) as response:
                return response.read()

        listing = json.loads(read("/data/plugins_listing"))
        assert listing["gradnap"]["enabled"] is True and listing["gradnap"]["tab_name"] == "GradNAP"
        assert b'import("./index.js")' in read("/data/plugin_entry.html?name=gradnap")
        values = np.frombuffer(read(f"{PREFIX}/matrix?run=version_0&method=gradnap&layer=model.dense&step=20"), "<f4")
        with np.load(logdir / "version_0" / "profiles" / "epoch=001-step=000020.npz") as data:
            np.testing.assert_array_equal(values.reshape(6, 12), data["profile_2"].astype(np.float32))


def test_the_entry_point_is_declared_in_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["tensorboard_plugins"]["gradnap"]
    module, name = target.split(":")
    assert getattr(importlib.import_module(module), name) is GradNAPLoader
    setuptools = project["tool"]["setuptools"]
    assert {"lightning_gradnap.dashboard", "lightning_gradnap.dashboard.static"} <= set(setuptools["packages"])
    assert set(setuptools["package-data"]["lightning_gradnap.dashboard.static"]) == {"*.js", "*.css"}
    assert {p.suffix for p in STATIC.iterdir()} == {".js", ".css"}  # all of them ship


def test_the_dashboard_does_not_import_lightning() -> None:
    modules = sorted(
        f"lightning_gradnap.dashboard.{p.stem}" for p in (ROOT / "lightning_gradnap" / "dashboard").glob("*.py")
    )
    code = BLOCK_LIGHTNING + f"import importlib\nfor name in {modules!r}: importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
