"""Packaging rules: import boundaries, the wheel's contents, the README's example, the scripts CI relies on."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.no_lightning import ASR_ONLY, BLOCK_ASR, BLOCK_LIGHTNING
from tests.helpers.paths import ROOT
from tests.helpers.wheel import build_wheel


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
        "    assert 'lightning' in str(error), error\n"
        "else:\n    raise AssertionError('the callback imported without lightning')\n"
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
        "import example_asr, importlib.metadata, lightning_gradnap, sys\n"
        f"assert example_asr.__file__.startswith({str(site)!r})\n"
        "assert importlib.metadata.version('lightning-gradnap') == lightning_gradnap.__version__\n"  # one source
        f"assert lightning_gradnap.__file__.startswith({str(site)!r})\n"
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


# ------------------------------------------------------------------ extras and lazy imports
def test_example_asr_without_its_extra_names_the_extra_and_the_core_still_works() -> None:
    code = BLOCK_ASR + (
        "import sys, lightning_gradnap\n"
        "from lightning_gradnap import GradNAPCallback, compute_profiles\n"  # the core and the callback need none
        "try:\n    import example_asr\nexcept ImportError as error:\n    print(error)\n"
        "else:\n    raise AssertionError('example_asr imported without the asr extra')\n"
        f"assert not set({ASR_ONLY!r}) & set(sys.modules), sorted(set({ASR_ONLY!r}) & set(sys.modules))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert "pip install 'lightning-gradnap[asr]'" in message, message
    assert "missing: torchaudio, soundfile, praatio, espeakng-loader" in message, message  # distribution names
    result = run_python("import example_asr; print(sorted(example_asr.__all__))")  # with the extra: no message
    assert result.returncode == 0 and "SpeechRecognizer" in result.stdout, result.stderr


def test_the_extras_are_what_their_users_import() -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python >= 3.11 reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}

    extras = project["optional-dependencies"]
    core, asr = names(project["dependencies"]), names(extras["asr"])
    assert {"torch", "lightning", "numpy", "scipy", "scikit-learn", "matplotlib", "tensorboard", "tqdm"} <= core
    assert asr == {"torchaudio", "soundfile", "praatio", "espeakng-loader", "torchmetrics"} and not asr & core
    import example_asr

    assert {distribution for _, distribution in example_asr.ASR_EXTRA} == asr  # the check names the extra's packages
    # torchmetrics is in the extra for example_asr's sake, but lightning requires it: a core install has it too.
    lightning = importlib.metadata.requires("lightning") or []
    assert any(requirement.startswith("torchmetrics") for requirement in lightning)
    assert {"pytest", "build", "twine", "wandb", "mlflow-skinny"} <= names(extras["test"])
    assert {"mkdocs", "mkdocs-material", "mkdocstrings"} <= names(extras["docs"])
    assert extras["dev"] == ["lightning-gradnap[asr,test,docs]"]
    assert '-e ".[asr,test,docs]"' in (ROOT / "scripts" / "env.sh").read_text()


#: What must stay out of ``sys.modules`` until the code that needs it runs.
HEAVY = ("torch", "lightning", "matplotlib")
CHECK_LIGHT = f"heavy = sorted(set({HEAVY!r}) & {{name.split('.')[0] for name in sys.modules}})\n"


def test_importing_the_package_imports_nothing_heavy() -> None:
    code = (
        "import sys\nimport lightning_gradnap\n" + CHECK_LIGHT + "assert not heavy, heavy\n"
        "assert set(dir(lightning_gradnap)) >= set(lightning_gradnap.__all__)\n"
        "from lightning_gradnap import compute_profiles, Profiles\n"  # each name on first use
        "assert 'torch' in sys.modules and 'lightning' not in sys.modules\n"
        "from lightning_gradnap import GradNAPCallback\nassert 'lightning' in sys.modules\n"
        "import lightning_gradnap.callback.gradnap as module\nassert GradNAPCallback is module.GradNAPCallback\n"
        "try:\n    lightning_gradnap.no_such_name\nexcept AttributeError as error:\n    print(error)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "has no attribute 'no_such_name'" in result.stdout


def test_tensorboard_loads_the_plugin_without_torch_matplotlib_or_lightning(tmp_path: Path) -> None:
    """TensorBoard's start-up as ``tensorboard --logdir`` does it: every plugin from its entry point, loaded and
    asked for its routes; then the plugin listing (``is_active``) and one of the tab's routes."""
    from tests.helpers.dashboard import make_run

    make_run(tmp_path / "logs" / "version_0" / "profiles", (10, 20))
    code = (
        "import sys\nfrom tensorboard import program\nfrom tensorboard.backend import application\n"
        "from werkzeug.test import Client\n"
        "board = program.TensorBoard()\n"
        f"board.configure(argv=['', '--logdir', {str(tmp_path / 'logs')!r}, '--load_fast', 'false'])\n"
        "provider, multiplexer = board._make_data_provider()\n"
        "app = application.TensorBoardWSGIApp(board.flags, board.plugin_loaders, provider,"
        " board.assets_zip_provider, multiplexer)\n"
        "from lightning_gradnap.dashboard.plugin import GradNAPLoader\n"
        "assert GradNAPLoader in board.plugin_loaders or any(isinstance(loader, GradNAPLoader)"
        " for loader in board.plugin_loaders), board.plugin_loaders\n"
        + CHECK_LIGHT
        + "assert not heavy, ('at start-up', heavy)\n"
        "client = Client(app)\nlisting = client.get('/data/plugins_listing').get_json()\n"
        "assert listing['gradnap']['enabled'], listing['gradnap']\n"
        + CHECK_LIGHT
        + "assert not heavy, ('after the plugin listing', heavy)\n"
        "runs = client.get('/data/plugin/gradnap/runs')\nassert runs.status_code == 200, runs.data\n"
        "print(runs.get_json())\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'runs': ['version_0']" in result.stdout, result.stdout
