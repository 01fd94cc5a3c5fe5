"""Packaging rules: import boundaries, the README's example, the scripts CI relies on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run_python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_core_never_imports_lightning() -> None:
    code = (
        "import sys, lightning_gradnap, lightning_gradnap.engine, lightning_gradnap.analysis, "
        "lightning_gradnap.plots, lightning_gradnap.reporting, lightning_gradnap.recording, lightning_gradnap.profiles, "
        "lightning_gradnap.capture, lightning_gradnap.schedule, lightning_gradnap.options, lightning_gradnap.writer, "
        "lightning_gradnap.history, lightning_gradnap.reduction\n"
        "import numpy as np\n"
        "from lightning_gradnap import plots\n"
        "plots.figure_to_array(plots.agreement_figure(np.eye(2), ['a', 'b']))\n"
        "assert not any(m == 'lightning' or m.startswith('lightning.') for m in sys.modules), 'lightning imported'\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "from lightning_gradnap import GradNAPCallback\n"
        "assert 'lightning' in sys.modules"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_example_asr_trains_without_the_plugin() -> None:
    result = run_python("import sys, example_asr.cli; assert 'lightning_gradnap' not in sys.modules")
    assert result.returncode == 0, result.stderr
    for path in (ROOT / "lightning_gradnap").glob("*.py"):
        assert "example_asr" not in path.read_text(), f"{path.name} imports example_asr"


def test_readme_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Without a Trainer", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = run_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(3, 32)" in result.stdout and (tmp_path / "profiles.npz").exists()


def test_readme_gives_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
