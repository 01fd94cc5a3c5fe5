"""What the callback's ``setup`` decides about the run: whether it starts afresh (another Trainer), and what
global rank zero checks and warns about before any training."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_warn

from lightning_gradnap.callback.loggers import logger_warning
from lightning_gradnap.callback.schedule import ProfilingSchedule
from lightning_gradnap.summary.writer import check_writable

__all__ = ["rank_zero_setup_warnings", "starts_fresh_run", "trainer_reference", "warn_if_any"]


def starts_fresh_run(previous: Callable[[], Any] | None, trainer: L.Trainer, stage: str) -> bool:
    """A ``fit`` of another Trainer than the last setup's (``previous``) without a checkpoint (a notebook cell run
    twice) is a new run: it starts a fresh history, so that its files are not named as repeats and its replay holds
    only its own steps."""
    earlier = previous() if previous is not None else None
    return (
        stage == "fit"
        and earlier is not None
        and earlier is not trainer
        and getattr(trainer, "ckpt_path", None) is None
    )


def rank_zero_setup_warnings(
    trainer: L.Trainer, pl_module: L.LightningModule, stage: str, folder: Path | None, schedule: ProfilingSchedule
) -> list[str | None]:
    """On global rank zero at setup: fail now if the profiles cannot be written to ``folder`` (``None``: none are
    saved), and the warnings (or ``None``) for loggers that see no figures and for a fit that will profile nothing.

    Raises:
        ValueError: if ``folder`` cannot be written (:func:`~lightning_gradnap.summary.writer.check_writable`).
    """
    if folder is not None:
        check_writable(folder)
    return [
        logger_warning(trainer),
        schedule.never_profiles(trainer, pl_module, stage),
    ]


def warn_if_any(*messages: str | None) -> None:
    """Warn (on global rank zero) with each message that is not ``None`` or empty."""
    for message in messages:
        if message:
            rank_zero_warn(message)


def trainer_reference(trainer: Any) -> Callable[[], Any]:
    """A weak reference to the Trainer (a stand-in without weak references is held as it is)."""
    try:
        return weakref.ref(trainer)
    except TypeError:
        return lambda: trainer
