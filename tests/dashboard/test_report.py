"""The offline report: ``python -m lightning_gradnap report``, its inlined payloads against the
.npz values, its options, folders of files saved by hand, and the bundler of the front end."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lightning_gradnap.__main__ import main
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.dashboard.bundle import bundle
from lightning_gradnap.dashboard.data import Dashboard
from lightning_gradnap.dashboard.plugin import STATIC
from lightning_gradnap.dashboard.report import write_report
from lightning_gradnap.dashboard.routes import query_key
from lightning_gradnap.profiles.result import Profiles
from tests.helpers.dashboard import add_feature_views, make_run
from tests.helpers.paths import ROOT

STEPS = (10, 20, 30)


class Report:
    """The payloads of a report file, looked up as the page's inlineSource looks them up."""

    def __init__(self, path: Path) -> None:
        self.page = path.read_text(encoding="utf-8")
        index = re.search(r'<script type="application/json" id="gradnap-index">(.*?)</script>', self.page, re.S)
        self.index = json.loads(index[1])

    def payload(self, route: str, **params) -> object:
        entry = self.index[query_key(route, {k: str(v) for k, v in params.items()})]
        text = re.search(rf'<script type="text/plain" id="{entry["id"]}">(.*?)</script>', self.page, re.S)[1]
        if entry["encoding"] == "json":
            return json.loads(text)
        values = np.frombuffer(base64.b64decode(text), "<f2" if entry["encoding"] == "float16" else "<f4")
        return values.astype(np.float32) / np.float32(entry.get("scale", 1.0))  # float16 is stored times a scale


@pytest.fixture
def logdir(profile_logdir) -> Path:
    return profile_logdir(STEPS, STEPS[:2])


def test_report_inlines_the_routes_payloads_and_needs_nothing_outside(logdir: Path, tmp_path: Path, capsys) -> None:
    views = add_feature_views(logdir / "version_1" / "profiles" / "epoch=001-step=000020.npz")
    output = tmp_path / "out" / "report.html"
    assert main(["report", str(logdir), "-o", str(output)]) == 0
    assert "analysing" in capsys.readouterr().err  # the progress bar
    report = Report(output)
    assert report.payload("runs") == {"runs": ["version_0", "version_1"]}
    dashboard = Dashboard(logdir)
    for run, steps in (("version_0", STEPS), ("version_1", STEPS[:2])):
        assert [s["step"] for s in report.payload("run", run=run)["steps"]] == list(steps)
        for epoch, step in enumerate(steps):
            with np.load(logdir / run / "profiles" / f"epoch={epoch:03d}-step={step:06d}.npz") as data:
                values = report.payload("matrix", run=run, method="gradnap", layer="model.conv2", step=step)
                np.testing.assert_array_equal(values.reshape(6, 24), data["profile_1"].astype(np.float32))
            at = (run, "gradnap", "model.dense", step)
            for kind in ("tracked", "step", "final"):
                assert report.payload(
                    "order", **dict(zip(("run", "method", "layer", "step"), at)), kind=kind
                ) == dashboard.order(*at, kind)
    assert report.payload("emergence", run="version_1", method="gradnap")["steps"] == list(STEPS[:2])
    for group in range(6):
        features = report.payload("features", run="version_1", step=20, group=group).reshape(2, 4, 5)
        np.testing.assert_array_equal(
            features[0], (views["feature_means"][group] - views["feature_overall"]).astype(np.float32)
        )
        np.testing.assert_array_equal(features[1], views["feature_weighted_means"][group].astype(np.float32))
    assert not any('"features"' in key and "version_0" in key for key in report.index)
    assert not re.search(r"https?://|\bsrc=|<link", report.page)  # nothing is fetched: it opens from disk
    script = report.page.split('<script type="module">', 1)[1]
    assert not re.search(r"^\s*(import|export)\b", script, re.M)


def test_report_reanalyses_with_the_command_lines_options(logdir: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    main(
        [
            "report",
            str(logdir),
            "-o",
            str(output),
            "--layers",
            "model.conv1,model.dense",
            "--num-clusters",
            "2",
            "--half",
            "--recompute",
            "--no-progress",
        ]
    )
    report = Report(output)
    info = report.payload("run", run="version_0")
    assert [layer["name"] for layer in info["layers"]] == ["model.conv1", "model.dense"]
    assert not any('"model.conv2"' in key for key in report.index)
    with np.load(logdir / "version_0" / "profiles" / "epoch=001-step=000020.npz") as data:
        half = report.payload("matrix", run="version_0", method="gradnap", layer="model.dense", step=20)
        key = query_key("matrix", dict(run="version_0", method="gradnap", layer="model.dense", step="20"))
        scale = np.float32(report.index[key]["scale"])
        expected = (data["profile_2"] * scale).astype(np.float16).astype(np.float32) / scale
        np.testing.assert_array_equal(half.reshape(6, 12), expected)
    emergence = report.payload("emergence", run="version_0", method="gradnap")
    expected = analyze(Profiles.load(logdir / "version_0" / "profiles" / "epoch=002-step=000030.npz"), num_clusters=2)
    assert emergence["scores"]["ami"][1][2] == pytest.approx(expected.layers["model.dense"].ami, abs=1e-12)
    assert emergence["layers"] == ["model.conv1", "model.dense"]


def test_report_of_a_folder_of_files_saved_by_hand(tmp_path: Path) -> None:
    profiles = make_run(tmp_path / "scratch", (1,))[1]
    (tmp_path / "scratch" / "epoch=000-step=000001.npz").unlink()
    for name in ("before.npz", "after.npz"):
        profiles.save(tmp_path / "mine" / name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightning_gradnap",
            "report",
            str(tmp_path / "mine"),
            "-o",
            str(tmp_path / "r.html"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "no server needed" in result.stdout
    report = Report(tmp_path / "r.html")
    assert report.payload("runs") == {"runs": ["mine"]}
    assert [(s["step"], s["file"]) for s in report.payload("run", run="mine")["steps"]] == [
        (0, "after.npz"),
        (1, "before.npz"),
    ]


def test_report_errors_say_what_to_give(logdir: Path, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SystemExit, match="no .npz profile files under .*: give a log directory"):
        main(["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.html"), "--no-progress"])
    with pytest.raises(SystemExit, match=r"--layers \['conv9'\] are in no profile file; layers: \['model.conv1'"):
        main(["report", str(logdir), "-o", str(tmp_path / "r.html"), "--layers", "conv9", "--no-progress"])
    with pytest.raises(SystemExit, match="--num-clusters should be at least 2"):
        main(["report", str(logdir), "--num-clusters", "1"])
    assert not (tmp_path / "r.html").exists()


def test_bundle_inlines_the_modules_and_refuses_forms_it_does_not_handle(tmp_path: Path) -> None:
    script = bundle(STATIC)
    names = re.findall(r'^modules\["([\w.]+)"\] =', script, re.M)
    assert names[-1] == "index.js" and sorted(names) == sorted(p.name for p in STATIC.glob("*.js"))
    assert names.index("colors.js") < names.index("heatmap.js")  # imports come first
    assert 'const { Heatmap } = modules["heatmap.js"];' in script
    (tmp_path / "a.js").write_text('import { b as c } from "./b.js";\nexport function a() { return c(); }\n')
    (tmp_path / "b.js").write_text("export const b = () => 1;\n")
    assert bundle(tmp_path, "a.js") == (
        'const modules = {};\nmodules["b.js"] = (() => {\nconst b = () => 1;\n\nreturn { b };\n})();\n'
        'modules["a.js"] = (() => {\nconst { b: c } = modules["b.js"];\nfunction a() { return c(); }\n\nreturn { a };\n})();'
    )
    (tmp_path / "b.js").write_text("export default 1;\n")
    with pytest.raises(ValueError, match="b.js: the report's bundler handles"):
        bundle(tmp_path, "a.js")
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = a;\n')
    with pytest.raises(ValueError, match=r"import cycle: a.js -> b.js -> a.js"):
        bundle(tmp_path, "a.js")


def test_half_report_keeps_tiny_and_huge_profiles(tmp_path: Path) -> None:
    """--half scales each array into float16's range (a power of two the page divides by): values of 1e-8 are not
    zeroed and values of 1e6 do not become infinite."""
    for name, size in (("tiny", 1e-8), ("huge", 1e6)):
        profiles = make_run(tmp_path / name / "run" / "profiles", (1,))[1]
        for layer in profiles.layers.values():
            layer.profile *= size
        profiles.save(tmp_path / name / "run" / "profiles" / "epoch=000-step=000001.npz")
        write_report(tmp_path / name, tmp_path / f"{name}.html", half=True, recompute=True, progress=False)
        matrix = Report(tmp_path / f"{name}.html").payload(
            "matrix", run="run", method="gradnap", layer="model.conv1", step=1
        )
        expected = profiles["model.conv1"].profile.astype(np.float32)
        np.testing.assert_allclose(matrix.reshape(expected.shape), expected, rtol=2**-10, atol=0)


def test_report_with_markup_in_group_names(tmp_path: Path) -> None:
    """Group names such as ``<!--`` and ``<script>`` (tokens of text models) cannot blank the page: every ``<`` in
    the embedded JSON is escaped, and the names read back as they are."""
    profiles = make_run(tmp_path / "logs" / "run" / "profiles", (1,))[1]
    names = ["<!--", "<script>", "</script>", "a<b", "S", "N"]
    Profiles(profiles.layers, names, profiles.group_categories, profiles.metadata).save(
        tmp_path / "logs" / "run" / "profiles" / "epoch=000-step=000001.npz"
    )
    output = write_report(tmp_path / "logs", tmp_path / "report.html", progress=False)
    page = output.read_text(encoding="utf-8")
    for block in re.findall(r'<script type="(?:text/plain|application/json)" id="[\w-]+">(.*?)</script>', page, re.S):
        assert "<" not in block
    assert Report(output).payload("run", run="run")["groups"] == names
