"""Where a Trainer's profiles go: its log directory and its TensorBoard writer, in either namespace.

``lightning.pytorch`` and ``pytorch_lightning`` each have their own ``TensorBoardLogger`` class, and
a Trainer of either namespace may hold either. ``pytorch_lightning`` is looked at only when it is
already imported (a Trainer or logger of that namespace imports it), so it is never required.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger

__all__ = ["NO_TENSORBOARD", "log_dir", "summary_writer"]

NO_TENSORBOARD = (
    "GradNAPCallback found no TensorBoardLogger: profiles are saved as .npz files only. Add "
    "`logger: lightning.pytorch.loggers.TensorBoardLogger` (or pytorch_lightning.loggers.TensorBoardLogger "
    "with a pytorch_lightning Trainer) to see them in TensorBoard."
)


def _tensorboard_logger_classes() -> tuple[type[Any], ...]:
    classes: list[type[Any]] = [TensorBoardLogger]
    other = sys.modules.get("pytorch_lightning.loggers.tensorboard")  # only if already imported
    if other is not None and isinstance(getattr(other, "TensorBoardLogger", None), type):
        classes.append(other.TensorBoardLogger)
    return tuple(classes)


def summary_writer(trainer: Any) -> Any:
    """The ``SummaryWriter`` of the Trainer's first TensorBoard logger, or None."""
    classes = _tensorboard_logger_classes()
    return next((logger.experiment for logger in trainer.loggers if isinstance(logger, classes)), None)


def log_dir(trainer: Any) -> Path:
    """The Trainer's log directory (a broadcast under several processes: call it on every rank)."""
    return Path(trainer.log_dir or trainer.default_root_dir)
