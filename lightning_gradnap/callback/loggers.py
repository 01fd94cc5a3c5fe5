"""Where a Trainer's profiles go: its log directory and its loggers, in either namespace (docs/loggers.md).

Every logger of the Trainer gets the views: a ``TensorBoardLogger`` through its ``SummaryWriter`` (with
TensorBoard's extras: projector, custom-scalars layout, the GradNAP tab), any other through a
:class:`~lightning_gradnap.callback.logger_sink.LoggerSink` (scalars by ``log_metrics``, images where the
logger takes them).

``lightning.pytorch`` and ``pytorch_lightning`` each have their own ``TensorBoardLogger`` class, and
a Trainer of either namespace may hold either. ``pytorch_lightning`` is looked at only when it is
already imported (a Trainer or logger of that namespace imports it), so it is never required.
"""

from __future__ import annotations

import sys
import weakref
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from lightning_gradnap.callback.logger_sink import LoggerSink
from lightning_gradnap.summary.sinks import Sinks

__all__ = ["NO_LOGGER", "log_dir", "logger_warning", "summary_writer"]

NO_LOGGER = (
    "GradNAPCallback found no logger: profiles are saved as .npz files only. Give the Trainer a logger "
    "(TensorBoardLogger for every view and the GradNAP tab; WandbLogger, MLFlowLogger or CometLogger for the "
    "figures and scores; CSVLogger for the scores; see docs/loggers.md)."
)

# One sink per logger, for the Trainer's life: it keeps its queue and whether it has warned.
_SINKS: weakref.WeakKeyDictionary[Any, LoggerSink] = weakref.WeakKeyDictionary()


def _tensorboard_logger_classes() -> tuple[type[Any], ...]:
    classes: list[type[Any]] = [TensorBoardLogger]
    other = sys.modules.get("pytorch_lightning.loggers.tensorboard")  # only if already imported
    if other is not None and isinstance(getattr(other, "TensorBoardLogger", None), type):
        classes.append(other.TensorBoardLogger)
    return tuple(classes)


def _sink(logger: Any) -> LoggerSink:
    if logger not in _SINKS:
        _SINKS[logger] = LoggerSink(logger)
    return _SINKS[logger]


def summary_writer(trainer: Any) -> Any:
    """What the views are written to (on global rank zero), or None without a logger.

    The ``SummaryWriter`` itself where a single ``TensorBoardLogger`` is the Trainer's only logger;
    otherwise a :class:`~lightning_gradnap.summary.sinks.Sinks` of every ``TensorBoardLogger``'s
    ``SummaryWriter`` and a :class:`~lightning_gradnap.callback.logger_sink.LoggerSink` for each other logger.
    """
    classes = _tensorboard_logger_classes()
    sinks = [logger.experiment if isinstance(logger, classes) else _sink(logger) for logger in trainer.loggers]
    if not sinks:
        return None
    if len(sinks) == 1 and isinstance(trainer.loggers[0], classes):
        return sinks[0]
    return Sinks(sinks)


def logger_warning(trainer: Any) -> str | None:
    """A warning for a Trainer whose loggers see no figures (none at all, or none that takes images), else None."""
    if not trainer.loggers:
        return NO_LOGGER
    classes = _tensorboard_logger_classes()
    if any(isinstance(logger, classes) or _sink(logger).takes_images for logger in trainer.loggers):
        return None
    names = ", ".join(sorted({type(logger).__name__ for logger in trainer.loggers}))
    return (
        f"GradNAPCallback: the Trainer's loggers ({names}) take no images: they get the GradNAP scores only, "
        "and the figures are not drawn. Add a TensorBoardLogger (every view and the GradNAP tab), a WandbLogger "
        "or an MLFlowLogger to see the figures (docs/loggers.md)."
    )


def _folder_logger_classes() -> tuple[type[Any], ...]:
    """The loggers whose ``log_dir`` is one run's own folder (``<save_dir>/<name>/version_<n>``), either namespace."""
    classes: list[type[Any]] = [TensorBoardLogger, CSVLogger]
    for module, name in (
        ("pytorch_lightning.loggers.tensorboard", "TensorBoardLogger"),
        ("pytorch_lightning.loggers.csv_logs", "CSVLogger"),
    ):
        other = getattr(sys.modules.get(module), name, None)  # only if already imported
        if isinstance(other, type):
            classes.append(other)
    return tuple(classes)


def log_dir(trainer: Any) -> Path:
    """The run's log directory, whose ``profiles/`` folder holds its ``.npz`` files (a broadcast under several
    processes: call it on every rank).

    The Trainer's ``log_dir`` where the first logger is a ``TensorBoardLogger`` or ``CSVLogger`` (its run's own
    folder) or there is none (``default_root_dir``). For any other logger the Trainer's ``log_dir`` is the logger's
    ``save_dir``, which every run shares (W&B's, or the root of an MLflow file store): there the run gets
    ``<save_dir or default_root_dir>/<name>/<version>`` (W&B: project and run id; MLflow: experiment and run id).
    """
    first = trainer.loggers[0] if trainer.loggers else None
    if first is None or isinstance(first, _folder_logger_classes()):
        return Path(trainer.log_dir or trainer.default_root_dir)
    folder = Path(first.save_dir or trainer.default_root_dir)
    if trainer.is_global_zero:  # name and version are known on rank zero (the experiment exists from setup on)
        folder = folder.joinpath(*(str(part) for part in (first.name, first.version) if part is not None))
    return Path(trainer.strategy.broadcast(str(folder)))
