"""Key and label mistakes before training: the first validation batch, read and checked as a profiling would.

Without this a misspelled ``labels`` or ``inputs`` key, or labels out of range, would show only at
the first profiled validation batch, after a whole training epoch. The batch is the sanity check's
first (it is not profiled), or, with ``num_sanity_val_steps=0``, the first of the validation loader,
read at ``on_train_start``.
"""

from __future__ import annotations

from typing import Any

from lightning_gradnap.callback.init_profiling import restored_rng
from lightning_gradnap.recording.batch import BatchReader

__all__ = ["check_before_training", "first_validation_batch"]


def check_before_training(reader: BatchReader, batch: Any, owner: Any, label_level: str, num_groups: int) -> None:
    """:meth:`BatchReader.check` of ``batch``, its error saying that it was found before training.

    Raises:
        KeyError: for a key that the batch lacks (lists its keys).
        ValueError: for labels of the wrong shape, type or range.
    """
    try:
        reader.check(batch, owner, label_level, num_groups)
    except (KeyError, ValueError) as error:
        message = error.args[0] if error.args else str(error)
        raise type(error)(f"GradNAPCallback, checking the first validation batch before training: {message}") from None


def first_validation_batch(trainer: Any) -> Any | None:
    """The first batch of the first validation loader (None without one), on the CPU as the loader gives it."""
    loaders = trainer.val_dataloaders
    if isinstance(loaders, (list, tuple)):
        loaders = loaders[0] if loaders else None
    if loaders is None or trainer.limit_val_batches == 0:
        return None
    with restored_rng(trainer.strategy.root_device):  # iterating a loader draws a seed from the generator
        return next(iter(loaders), None)
