"""LightningCLI entry point: ``python -m example_asr fit --config configs/demo.yaml``.

The configs ship with the package (``example_asr/configs/`` in an installed wheel, ``configs/`` in
a source checkout): a ``--config`` path that does not exist but names one of them, as
``configs/demo.yaml`` or ``demo.yaml``, is read from there, so the command works from any folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from example_asr.data import SpeechDataModule
from example_asr.module import SpeechRecognizer

__all__ = ["cli_main", "shipped_config"]

#: Where the shipped configs are: inside the installed package, or beside it in a source checkout.
CONFIG_FOLDERS = (Path(__file__).parent / "configs", Path(__file__).parent.parent / "configs")


def shipped_config(name: str) -> Path | None:
    """The shipped config ``name`` (``"demo.yaml"`` or ``"configs/demo.yaml"``), or ``None``."""
    if Path(name).parent not in (Path("."), Path("configs")):
        return None
    return next((folder / Path(name).name for folder in CONFIG_FOLDERS if (folder / Path(name).name).is_file()), None)


def _find_configs(args: list[str]) -> list[str]:
    """``args`` with each ``--config`` that is no file but a shipped config's name replaced by its path."""
    found = list(args)
    for i, arg in enumerate(found):
        option, equals, value = arg.partition("=")
        if option == "--config" and equals:
            path = None if Path(value).is_file() else shipped_config(value)
            found[i] = f"--config={path}" if path else arg
        elif arg == "--config" and i + 1 < len(found) and not Path(found[i + 1]).is_file():
            path = shipped_config(found[i + 1])
            found[i + 1] = str(path) if path else found[i + 1]
    return found


def cli_main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Build the CLI (``run=False`` only parses and instantiates, for tests and notebooks)."""
    if args is None:  # the command line: rewritten in place, as LightningCLI (and a DDP relaunch) read it
        sys.argv[1:] = _find_configs(sys.argv[1:])
    return LightningCLI(
        SpeechRecognizer,
        SpeechDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=None if args is None else _find_configs(args),
        run=run,
    )
