"""The documentation's examples run as written (README.md's Python blocks, and the docs/ pages' blocks
marked runnable: tests/helpers/doc_examples.py), and its Markdown is whole (every fence closed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_gradnap.profiles.result import Profiles
from tests.helpers.doc_examples import SETUPS, Example, examples
from tests.helpers.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = examples()


def run_example(example: Example, folder: Path) -> subprocess.CompletedProcess:
    code = SETUPS[example.setup] + example.code if example.setup else example.code
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=folder, env=environment
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_example_runs(example: Example, tmp_path: Path) -> None:
    result = run_example(example, tmp_path)
    assert result.returncode == 0, f"{example.name} failed:\n{result.stderr[-4000:]}"
    if example.setup == "tiny_trainer":  # the callback profiled the layers the example names
        files = sorted(tmp_path.glob("lightning_logs/version_0/profiles/*.npz"))
        assert files, f"{example.name} wrote no profiles: {sorted(tmp_path.rglob('*'))}"
        layers = re.search(r"layers=\[(.*?)\]", example.code).group(1)
        assert list(Profiles.load(files[-1]).layers) == re.findall(r'"([^"]+)"', layers)
        assert list(tmp_path.glob("lightning_logs/version_0/events.out.tfevents.*")), "no TensorBoard views"
    for name in re.findall(r'\.save\("([^"]+)"\)', example.code):
        assert Profiles.load(tmp_path / name).layers, f"{example.name} saved no profiles to {name}"


def test_the_examples_are_found() -> None:
    """Each README block, and each marked block of docs/, is one example (none is missed)."""
    readme = (ROOT / "README.md").read_text()
    assert sum(example.file == "README.md" for example in EXAMPLES) == readme.count("```python\n") >= 2
    for page in PAGES[1:]:
        marked = page.read_text().count("<!-- test: runs")
        assert sum(example.file == f"docs/{page.name}" for example in EXAMPLES) == marked, page.name
    assert {example.setup for example in EXAMPLES} - {None} <= set(SETUPS)
    assert any(example.setup == "tiny_trainer" for example in EXAMPLES)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_code_fence_is_closed(page: Path) -> None:
    fences = [line for line in page.read_text().splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0, f"{page.name} has an unclosed code fence"
    assert all(fence.strip() == "```" for fence in fences[1::2]), f"{page.name}: a fence opens where one closes"
