"""LightningCLI entry point: ``python -m example_asr fit --config configs/demo.yaml``."""

from __future__ import annotations

from lightning.pytorch.cli import LightningCLI

from example_asr.data import SpeechDataModule
from example_asr.module import SpeechRecognizer


def cli_main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Build the CLI (``run=False`` only parses and instantiates, for tests and notebooks)."""
    return LightningCLI(
        SpeechRecognizer,
        SpeechDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )
