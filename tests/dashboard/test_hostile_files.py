"""Hostile and broken profile files: refused before loading (a 400 that names the file), or skipped with a
warning that names them while the rest of the run shows, in the tab and in the report."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from lightning_gradnap.__main__ import main
from lightning_gradnap.dashboard.plugin import GradNAPLoader
from lightning_gradnap.dashboard.report import write_report
from tests.helpers.dashboard import make_run

PREFIX = "/data/plugin/gradnap"
STEPS = (10, 20, 30)
AT = {"run": "version_0", "method": "gradnap", "layer": "model.conv1"}


def client_for(logdir: Path) -> Client:
    plugin = GradNAPLoader().load(base_plugin.TBContext(logdir=str(logdir)))
    return Client(application.TensorBoardWSGI([plugin]))


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """The profiles/ folder of a run of three good files."""
    folder = tmp_path / "logs" / "version_0" / "profiles"
    make_run(folder, STEPS)
    return folder


def rewrite(path: Path, **arrays: np.ndarray) -> None:
    """Rewrite a profile file with some of its arrays replaced."""
    with np.load(path) as data:
        kept = {key: data[key] for key in data.files}
    np.savez(path, **{**kept, **arrays})


def test_a_zip_bomb_is_refused_with_a_400_that_names_the_file(profiles: Path) -> None:
    bomb = profiles / "epoch=001-step=000020.npz"
    shape = (4, 16 << 20)  # 512 MiB of float64 zeros declared and inflated, 0.5 MB on disk
    with zipfile.ZipFile(bomb) as archive:
        kept = {info.filename: archive.read(info) for info in archive.infolist() if info.filename != "profile_0.npy"}
    with zipfile.ZipFile(bomb, "w") as archive:
        for name, content in kept.items():
            archive.writestr(name, content)
        info = zipfile.ZipInfo("profile_0.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": shape})
            zeros = bytes(1 << 24)
            for _ in range(shape[0] * shape[1] * 8 // len(zeros)):
                out.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    client = client_for(profiles.parent.parent)
    response = client.get(f"{PREFIX}/matrix", query_string={**AT, "step": 20})
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert "'epoch=001-step=000020.npz'" in text and "refused" in text and str(profiles) not in text
    good = client.get(f"{PREFIX}/matrix", query_string={**AT, "step": 10})
    assert good.status_code == 200 and len(good.get_data()) == 6 * 16 * 4


def test_a_header_that_lies_about_its_shape_is_refused_with_a_400(profiles: Path) -> None:
    liar = profiles / "epoch=002-step=000030.npz"
    with zipfile.ZipFile(liar) as archive:
        kept = {info.filename: archive.read(info) for info in archive.infolist() if info.filename != "profile_0.npy"}
    with zipfile.ZipFile(liar, "w") as archive:
        for name, content in kept.items():
            archive.writestr(name, content)
        with archive.open("profile_0.npy", "w") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": (4, 10**12)})
            out.write(bytes(64))
    client = client_for(profiles.parent.parent)
    response = client.get(f"{PREFIX}/matrix", query_string={**AT, "step": 30})
    text = response.get_data(as_text=True)
    assert response.status_code == 400, text
    assert "'epoch=002-step=000030.npz'" in text and "(4, 1000000000000)" in text and str(profiles) not in text
    info = json.loads(client.get(f"{PREFIX}/run", query_string={"run": "version_0"}).get_data())
    assert [s["step"] for s in info["steps"]] == [10, 20]
    assert [entry["file"] for entry in info["skipped"]] == ["epoch=002-step=000030.npz"]


MALFORMED = {
    "a 0-d layers array": {"layers": np.array("model.conv1")},
    "metadata that is a list": {"metadata": np.array(json.dumps(["gradnap"]))},
    "a 1-d profile": {"profile_0": np.zeros(6)},
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_file_is_skipped_with_a_warning_and_the_rest_shows(
    profiles: Path, tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    rewrite(profiles / "epoch=001-step=000020.npz", **MALFORMED[case])
    client = client_for(profiles.parent.parent)
    with caplog.at_level(logging.WARNING, logger="lightning_gradnap"):
        response = client.get(f"{PREFIX}/run", query_string={"run": "version_0"})
    assert response.status_code == 200, response.get_data(as_text=True)
    info = json.loads(response.get_data())
    assert [s["step"] for s in info["steps"]] == [10, 30]
    assert [entry["file"] for entry in info["skipped"]] == ["epoch=001-step=000020.npz"]
    assert str(profiles) not in json.dumps(info["skipped"])
    assert "epoch=001-step=000020.npz" in caplog.text
    for step in (10, 30):
        assert client.get(f"{PREFIX}/matrix", query_string={**AT, "step": step}).status_code == 200
    assert client.get(f"{PREFIX}/emergence", query_string={"run": "version_0", "method": "gradnap"}).status_code == 200
    with pytest.warns(UserWarning, match=r"skipped .*epoch=001-step=000020\.npz"):
        report = write_report(profiles.parent.parent, tmp_path / "report.html", progress=False)
    assert report.stat().st_size > 0


def test_the_report_command_names_a_skipped_file_once(profiles: Path, tmp_path: Path, capsys) -> None:
    rewrite(profiles / "epoch=001-step=000020.npz", metadata=np.array(json.dumps(["gradnap"])))
    main(["report", str(profiles.parent.parent), "-o", str(tmp_path / "report.html"), "--no-progress"])
    errors = capsys.readouterr().err
    assert errors.count("epoch=001-step=000020.npz") == 1 and errors.startswith("warning: GradNAP dashboard: skipped")
    assert (tmp_path / "report.html").stat().st_size > 0
