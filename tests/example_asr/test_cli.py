"""LightningCLI: every config in configs/ parses and instantiates; --help and --print_config work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from example_asr.cli import _find_configs, cli_main, shipped_config
from example_asr.data import SpeechDataModule
from example_asr.module import SpeechRecognizer
from tests.helpers.paths import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_configs() -> None:
    assert {"demo.yaml", "librispeech.yaml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_config_instantiates(config: Path, tmp_path: Path) -> None:
    args = ["--config", str(config), "--trainer.default_root_dir", str(tmp_path)]
    if not torch.cuda.is_available():
        args += ["--trainer.accelerator", "cpu"]  # GPU configs: everything else as written
    cli = cli_main(args, run=False)
    assert isinstance(cli.model, SpeechRecognizer)
    assert isinstance(cli.datamodule, SpeechDataModule)
    assert cli.model.hparams.n_features == cli.datamodule.frontend.n_mels


def test_demo_config_is_small_and_on_cpu(tmp_path: Path) -> None:
    cli = cli_main(["--config", "configs/demo.yaml", "--trainer.default_root_dir", str(tmp_path)], run=False)
    assert cli.trainer.accelerator.__class__.__name__ == "CPUAccelerator"
    assert cli.model.hparams.channels == 128 and cli.datamodule.__class__.__name__ == "SyntheticSpeechData"


@pytest.mark.parametrize("args", [["--help"], ["fit", "--config", "configs/demo.yaml", "--print_config"]])
def test_command_line(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "example_asr", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert ("fit" in result.stdout) if args == ["--help"] else ("channels: 128" in result.stdout)


def test_optimizer_and_scheduler_from_yaml(tmp_path: Path) -> None:
    extra = tmp_path / "optim.yaml"
    extra.write_text(
        "model:\n"
        "  optimizer:\n    class_path: torch.optim.SGD\n    init_args:\n      lr: 0.05\n      momentum: 0.9\n"
        "  lr_scheduler:\n    class_path: torch.optim.lr_scheduler.StepLR\n    init_args:\n      step_size: 100\n"
    )
    cli = cli_main(
        ["--config", "configs/demo.yaml", "--config", str(extra), "--trainer.default_root_dir", str(tmp_path)],
        run=False,
    )
    configured = cli.model.configure_optimizers()
    assert isinstance(configured["optimizer"], torch.optim.SGD) and configured["optimizer"].defaults["lr"] == 0.05
    assert isinstance(configured["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert configured["lr_scheduler"]["interval"] == "step"


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    demo = ROOT / "configs" / "demo.yaml"  # a source checkout; an installed wheel has example_asr/configs/
    assert shipped_config("configs/demo.yaml") == demo and shipped_config("demo.yaml") == demo
    assert shipped_config("elsewhere/demo.yaml") is None and shipped_config("configs/none.yaml") is None
    found = _find_configs(["fit", "--config", "configs/demo.yaml", "--config=librispeech.yaml", "--config", "x.yaml"])
    assert found == [
        "fit",
        "--config",
        str(demo),
        f"--config={ROOT / 'configs' / 'librispeech.yaml'}",
        "--config",
        "x.yaml",
    ]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo.yaml").write_text("{}\n")  # a file of the user's own wins
    assert _find_configs(["--config", "configs/demo.yaml"]) == ["--config", "configs/demo.yaml"]
