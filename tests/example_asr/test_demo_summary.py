"""The demo ends by its step budget, not the clock, and reports its final CER from the run's events."""

from __future__ import annotations

import datetime
from pathlib import Path

import yaml
from torch.utils.tensorboard import SummaryWriter

from example_asr.summary import main, summarize
from tests.helpers.paths import ROOT


def test_demo_budget_is_steps_and_max_time_only_a_safety_net() -> None:
    trainer = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())["trainer"]
    assert trainer["max_epochs"] == 10 and trainer.get("max_steps", -1) == -1
    days, hours, minutes, seconds = map(int, trainer["max_time"].split(":"))
    assert datetime.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds) >= datetime.timedelta(
        minutes=30
    )
    assert "example_asr.summary" in (ROOT / "scripts" / "demo.sh").read_text()


def write_run(log_dir: Path, epochs: int, max_epochs: int) -> None:
    """Events as Lightning writes them: ``epoch`` beside each metric, at the same step."""
    writer = SummaryWriter(str(log_dir))
    for epoch in range(epochs):
        step = 250 * (epoch + 1)
        writer.add_scalar("train/loss", 1.0 / (epoch + 1), step - 10)
        writer.add_scalar("epoch", epoch, step - 10)
        writer.add_scalar("val/cer", 0.8 - 0.1 * epoch, step)
        writer.add_scalar("epoch", epoch, step)
    writer.add_scalar("epoch", epochs, 250 * epochs + 5)  # a training step of the next, unfinished epoch
    writer.close()
    (log_dir / "config.yaml").write_text(yaml.safe_dump({"trainer": {"max_epochs": max_epochs}}))


def test_summary_gives_the_final_cer_and_its_epoch(tmp_path: Path, capsys) -> None:
    write_run(tmp_path, epochs=3, max_epochs=3)
    assert summarize(tmp_path) == "Final validation CER: 0.600 (epoch 3 of 3, step 750)"
    assert main([str(tmp_path)]) == 0
    assert "0.600" in capsys.readouterr().out


def test_summary_says_when_training_stopped_early(tmp_path: Path) -> None:
    write_run(tmp_path, epochs=2, max_epochs=10)
    text = summarize(tmp_path)
    assert text.startswith("Final validation CER: 0.700 (epoch 2 of 10, step 500)")
    assert "stopped after 2 of 10 epochs" in text


def test_summary_without_validation(tmp_path: Path) -> None:
    assert summarize(tmp_path).startswith("No val/cer was logged")
    assert main([]) == 2
