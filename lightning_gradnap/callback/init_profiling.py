"""The untrained-network baseline: one profiling before the first training step (docs/METHOD.md).

Representation analysis reads what a layer has learned against what the same layer shows at its
initial weights: random convolutions keep much of the input's structure, so a layer scores well above
chance before it has learned anything. At the start of ``fit`` (the weights at initialisation, or, in a
run resumed from a checkpoint that holds no such profiling, the weights it resumes with) the callback
profiles the validation batches it profiles at every validation, by a forward of its own in eval mode,
and keeps the scores in its history, which checkpoints keep: every later profiling logs them as
``<score>_init``, and the profiling itself is the step-0 column of the emergence maps.

Nothing of the training changes: the random number generators are restored afterwards (iterating a
DataLoader draws a seed from them), every module's train/eval mode is restored, and no hook stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from lightning_gradnap.callback.schedule import ProfilingSchedule
from lightning_gradnap.callback.shared_forward import SharedForward
from lightning_gradnap.recording.batch import BatchReader

__all__ = ["profile_before_training", "restored_rng", "restored_modes", "validation_batches"]


@contextmanager
def restored_rng(device: torch.device) -> Iterator[None]:
    """The CPU generator's state (and ``device``'s, on a GPU) as it was before, afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


@contextmanager
def restored_modes(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode inside; afterwards every submodule's train/eval mode as it was."""
    modes = [(child, child.training) for child in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for child, training in modes:
            child.train(training)


def validation_batches(trainer: Any, max_batches: int | None) -> Iterator[tuple[int, Any]]:
    """The first ``max_batches`` batches of the first validation loader (within ``limit_val_batches``), with
    their index, as the validation loop hands them to the step: converted by the precision plugin (e.g.
    float64 under ``precision="64-true"``), through the module's batch-transfer hooks, on the device."""
    loaders = trainer.val_dataloaders
    if isinstance(loaders, (list, tuple)):
        loaders = loaders[0] if loaders else None
    counts = getattr(trainer, "num_val_batches", None) or [None]
    limit = counts[0] if isinstance(counts, (list, tuple)) else counts
    if loaders is None or limit == 0:
        return
    for index, batch in enumerate(loaders):
        if (max_batches is not None and index >= max_batches) or (limit is not None and index >= limit):
            return
        batch = trainer.precision_plugin.convert_input(batch)
        batch = trainer.lightning_module._on_before_batch_transfer(batch, dataloader_idx=0)
        yield index, trainer.strategy.batch_to_device(batch, dataloader_idx=0)


def profile_before_training(
    trainer: Any,
    pl_module: nn.Module,
    capture: SharedForward,
    model: nn.Module,
    reader: BatchReader,
    schedule: ProfilingSchedule,
    finish: Callable[[], None],
) -> None:
    """Profile the validation batches a validation would profile, at the current weights, then ``finish()``
    (the end of a validation's profiling, with ``init=True``); a collective call under several processes.
    Nothing where ``fit`` will profile nothing (:meth:`ProfilingSchedule.never_profiles`).

    Args:
        trainer: The Trainer, at the start of ``fit``.
        pl_module: The LightningModule (reads the labels; put in eval mode inside).
        capture: The callback's shared-forward capture: its engine and hooks (here a separate forward).
        model: The module whose forward gives the scores.
        reader: Reads each batch, as at every validation.
        schedule: Which batches are profiled and feed the input views.
        finish: Reduces, profiles, writes and records (the callback's epoch end, as the init profiling).
    """
    if schedule.never_profiles(trainer, pl_module, "fit"):
        return
    engine = capture.engine
    engine.reset()
    device = next((p.device for p in pl_module.parameters()), torch.device("cpu"))
    step_context = trainer.precision_plugin.val_step_context()  # autocast or the default dtype, as validation
    with restored_rng(device), restored_modes(pl_module), torch.no_grad(), step_context:
        for index, batch in validation_batches(trainer, schedule.max_batches):
            profile_batch, label_fn = reader.read(batch, pl_module)
            feeds_features = bool(engine.input_sums) and schedule.feeds_features(index)
            capture.finish(model, profile_batch, label_fn, feeds_features)  # nothing captured: a forward of its own
    finish()
    engine.reset()
