"""Packaging rules: import boundaries, the wheel's contents, the README's example, the scripts CI relies on."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.no_lightning import BLOCK_LIGHTNING
from tests.helpers.paths import ROOT


def run_python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_core_works_without_lightning() -> None:
    package = ROOT / "lightning_gradnap"
    modules = [path.relative_to(ROOT).with_suffix("").parts for path in package.rglob("*.py")]
    core = sorted(
        ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for parts in modules
        if parts[1] not in ("callback", "pytorch_lightning.py", "pytorch_lightning")
    )
    code = BLOCK_LIGHTNING + (
        f"import importlib, lightning_gradnap\nfor name in {core!r}: importlib.import_module(name)\n"
        "import numpy as np\n"
        "from lightning_gradnap.figures import plots\n"
        "plots.figure_to_array(plots.agreement_figure(np.eye(2), ['a', 'b']))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "try:\n    from lightning_gradnap import GradNAPCallback\nexcept ImportError as error:\n"
        "    assert 'lightning' in str(error), error\nelse:\n    raise AssertionError('the callback imported without lightning')\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    result = run_python("import sys\nfrom lightning_gradnap import GradNAPCallback\nassert 'lightning' in sys.modules")
    assert result.returncode == 0, result.stderr


def test_example_asr_trains_without_the_plugin() -> None:
    result = run_python("import sys, example_asr.cli; assert 'lightning_gradnap' not in sys.modules")
    assert result.returncode == 0, result.stderr
    for path in (ROOT / "lightning_gradnap").rglob("*.py"):
        assert "example_asr" not in path.read_text(), f"{path.name} imports example_asr"


def test_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Without a Trainer", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = run_python(BLOCK_LIGHTNING + code, cwd=tmp_path)  # the core needs no lightning
    assert result.returncode == 0, result.stderr
    assert "(3, 32)" in result.stdout and (tmp_path / "profiles.npz").exists()


def test_readme_gives_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


# ------------------------------------------------------------------ the wheel
def build_wheel(folder: Path) -> Path:
    """``pip wheel`` of a copy of the sources (nothing is written into the checkout)."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("lightning_gradnap", "example_asr", "configs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # setuptools >= 77 in this environment builds offline; otherwise pip fetches it (build isolation).
    local = int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(folder / "dist"), str(source)]
    result = subprocess.run(
        command + (["--no-build-isolation"] if local else []), capture_output=True, text=True, timeout=300
    )
    if (
        result.returncode != 0
        and not local
        and re.search(r"[Cc]onnection|No matching distribution|Could not find a version", result.stdout + result.stderr)
    ):
        pytest.skip(
            "building needs setuptools>=77: install it in this environment, or allow pip to reach a package index"
        )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return next((folder / "dist").glob("lightning_gradnap-*.whl"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_module_the_word_list_the_configs_and_the_license(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("lightning_gradnap", "example_asr")
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules and modules <= names, sorted(modules - names)
    assert "example_asr/corpora/synthetic/words.txt" in names
    static = {
        f"lightning_gradnap/dashboard/static/{path.name}"
        for path in (ROOT / "lightning_gradnap" / "dashboard" / "static").iterdir()
    }
    assert "lightning_gradnap/dashboard/static/index.js" in static and static <= names, sorted(
        static - names
    )  # the GradNAP tab's page
    dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "[tensorboard_plugins]\ngradnap = lightning_gradnap.dashboard.plugin:GradNAPLoader" in entry_points
    configs = {f"example_asr/configs/{path.name}" for path in (ROOT / "configs").glob("*.yaml")}
    assert {"example_asr/configs/demo.yaml", "example_asr/configs/librispeech.yaml"} <= configs <= names
    assert not any(name.startswith(("tests/", "bench/", "scripts/")) for name in names)
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()


def test_installed_wheel_works_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"  # no configs/ here: the CLI must find the shipped ones
    elsewhere.mkdir()
    code = (
        "import example_asr, lightning_gradnap, sys\n"
        f"assert example_asr.__file__.startswith({str(site)!r}) and lightning_gradnap.__file__.startswith({str(site)!r})\n"
        "from example_asr.corpora.synthetic.sentences import load_words\nassert len(load_words()) > 1000\n"
        "from example_asr.cli import cli_main\n"
        "try:\n    cli_main(['fit', '--config', 'configs/demo.yaml', '--print_config'])\n"
        "except SystemExit as end:\n    assert not end.code, end.code\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=elsewhere, env=environment
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "channels: 128" in result.stdout and "GradNAPCallback" in result.stdout
