"""Tiny LightningModules and data for callback tests (generated data, no downloads)."""

from __future__ import annotations

import glob
import os

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.data import DataLoader

GROUPS = ["aa", "iy", "p", "s"]
CATEGORIES = ["vowel", "vowel", "plosive", "fricative"]
# The callback's warning that a run's profiles rest on too little data: so they do in tiny test runs.
LOW_RELIABILITY = pytest.mark.filterwarnings("ignore:GradNAPCallback.*split-half reliability below:UserWarning")


class LossSteps:
    """Training and validation steps (logging ``val_loss``) and SGD around a ``_loss(batch)``."""

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class TinyFrameSteps(LossSteps):
    """A strided Conv1d stack over [B, 3, T] features, trained to predict frame labels (mix it
    into a LightningModule of either namespace)."""

    def __init__(self, call_submodule: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential()
        self.net.add_module("conv1", nn.Conv1d(3, 8, 3, padding=1))
        self.net.add_module("relu1", nn.ReLU(inplace=True))
        self.net.add_module("conv2", nn.Conv1d(8, 8, 3, stride=2, padding=1))
        self.net.add_module("relu2", nn.ReLU())
        self.net.add_module("out", nn.Conv1d(8, len(GROUPS), 1))
        self.profile_layers = ["net.conv1", "net.conv2"]
        self.call_submodule = call_submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, batch) -> torch.Tensor:
        logits = self.net(batch["features"]) if self.call_submodule else self(batch["features"])
        targets = batch["labels"][:, ::2]
        return F.cross_entropy(logits, targets.clamp(min=0), reduction="mean")


class TinyFrameModel(TinyFrameSteps, L.LightningModule):
    """:class:`TinyFrameSteps` as a ``lightning.pytorch`` LightningModule."""


def frame_batches(count: int, batch_size: int = 4, frames: int = 24, seed: int = 0) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, len(GROUPS), (batch_size, frames // 4), generator=generator).repeat_interleave(4, 1)
        features = torch.randn(batch_size, 3, frames, generator=generator) + labels[:, None, :].float()
        lengths = torch.randint(frames // 2, frames + 1, (batch_size,), generator=generator)
        labels = torch.where(torch.arange(frames)[None, :] < lengths[:, None], labels, -1)
        batches.append({"features": features, "labels": labels, "feature_lengths": lengths})
    return batches


class TinyFrameData(L.LightningDataModule):
    group_names = GROUPS
    group_categories = CATEGORIES

    def __init__(self, train_batches: int = 3, val_batches: int = 3) -> None:
        super().__init__()
        self.train = frame_batches(train_batches, seed=1)
        self.val = frame_batches(val_batches, seed=2)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=None)


def read_events(log_dir: str) -> EventAccumulator:
    files = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    assert files, f"no event file in {log_dir}"
    accumulator = EventAccumulator(files[0], size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def event_steps(log_dir: str, kind: str, tag: str) -> list[int]:
    """Steps of ``tag`` (``kind``: ``"images"`` or ``"scalars"``) over every event file in ``log_dir``
    (a Trainer that validates after ``fit`` starts a second file)."""
    steps: list[int] = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        accumulator = EventAccumulator(path, size_guidance={"images": 0, "scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()[kind]:
            steps += [event.step for event in getattr(accumulator, kind.capitalize())(tag)]
    return steps


def trainer(tmp_path, callbacks, logger=True, **kwargs) -> L.Trainer:
    from lightning.pytorch.loggers import TensorBoardLogger

    options = dict(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=2,
        log_every_n_steps=1,
    )
    options.update(kwargs)
    chosen_logger = TensorBoardLogger(str(tmp_path), name="tb") if logger is True else logger
    options.setdefault("default_root_dir", str(tmp_path))
    return L.Trainer(callbacks=callbacks, logger=chosen_logger, **options)
