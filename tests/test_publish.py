"""Ready to publish: ``python -m build`` makes an sdist and a wheel that pass ``twine check --strict``,
with the project's metadata (one version, classifiers, URLs, the core dependencies and the extras)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import lightning_gradnap
from tests.helpers.paths import ROOT
from tests.helpers.wheel import copy_sources

pytest.importorskip("build", reason="the test extra installs build (pip install -e '.[test]')")
pytest.importorskip("twine", reason="the test extra installs twine (pip install -e '.[test]')")


def test_the_version_has_one_source_that_setuptools_reads_without_importing() -> None:
    """``__version__`` is a plain string literal, which setuptools' ``attr:`` reads from the syntax tree (so the
    build imports neither the package nor torch); pyproject.toml names it and holds no version of its own."""
    tree = ast.parse((ROOT / "lightning_gradnap" / "__init__.py").read_text())
    assigned = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
    ]
    assert len(assigned) == 1 and ast.literal_eval(assigned[0]) == lightning_gradnap.__version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = {attr = "lightning_gradnap.__version__"}' in pyproject
    assert "\nversion =" not in pyproject.split("[tool.setuptools.dynamic]")[0]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {lightning_gradnap.__version__} - " in changelog, "the CHANGELOG has no entry for this version"
    assert changelog.index("\n## [Unreleased]") < changelog.index(f"\n## {lightning_gradnap.__version__} - ")


def test_build_makes_an_sdist_and_a_wheel_that_pass_twine_check(tmp_path: Path) -> None:
    """``python -m build --no-isolation`` of a copy of the sources: the sdist first, then the wheel from the sdist
    (so the sdist holds all the wheel needs); ``twine check --strict`` on both (the README renders on PyPI)."""
    started = time.perf_counter()
    source = copy_sources(tmp_path)
    dist = tmp_path / "dist"
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    version = lightning_gradnap.__version__
    sdist, wheel = dist / f"lightning_gradnap-{version}.tar.gz", dist / f"lightning_gradnap-{version}-py3-none-any.whl"
    assert set(dist.iterdir()) == {sdist, wheel}
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and result.stdout.count("PASSED") == 2, result.stdout + result.stderr

    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    root = f"lightning_gradnap-{version}"
    for name in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "PKG-INFO",
        "configs/demo.yaml",
        "lightning_gradnap/dashboard/static/index.js",
        "example_asr/corpora/synthetic/words.txt",
    ):
        assert f"{root}/{name}" in names, name
    metadata = Parser().parsestr(
        zipfile.ZipFile(wheel).read(f"lightning_gradnap-{version}.dist-info/METADATA").decode()
    )
    assert metadata["Version"] == version and metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.10" and metadata["Description-Content-Type"] == "text/markdown"
    classifiers = metadata.get_all("Classifier")
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert "Topic :: Scientific/Engineering :: Artificial Intelligence" in classifiers
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL"))
    assert urls["Repository"] == "https://github.com/lightning-gradnap/lightning-gradnap"
    assert urls["Documentation"] == "https://lightning-gradnap.github.io/lightning-gradnap/"
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert "pytorch" in metadata["Keywords"] and "interpretability" in metadata["Keywords"]
    assert set(metadata.get_all("Provides-Extra")) == {"asr", "test", "docs", "dev"}
    core = [line for line in metadata.get_all("Requires-Dist") if "extra ==" not in line]
    assert any(line.startswith("torch>=") for line in core) and any(line.startswith("lightning>=") for line in core)
    assert not [
        line for line in core if line.split(">")[0] in ("torchaudio", "soundfile", "praatio", "espeakng-loader")
    ]
    print(f"build + twine check: {time.perf_counter() - started:.1f} s")
