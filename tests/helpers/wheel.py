"""Building the project's wheel and sdist from a copy of the sources (nothing is written into the checkout)."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

#: What the sdist is built from: the files pyproject.toml names, and the packages.
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
SOURCE_FOLDERS = ("lightning_gradnap", "example_asr", "configs")


def copy_sources(folder: Path) -> Path:
    """A copy of what a build reads, in ``folder/source``."""
    source = folder / "source"
    source.mkdir(parents=True)
    for name in SOURCE_FILES:
        shutil.copy2(ROOT / name, source / name)
    for name in SOURCE_FOLDERS:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return source


def build_wheel(folder: Path) -> Path:
    """``pip wheel`` of a copy of the sources into ``folder/dist``; returns the wheel."""
    source = copy_sources(folder)
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
