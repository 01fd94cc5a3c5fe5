"""The documentation's Python examples, as tests run them: each ```python block of README.md, and each
block of a docs/ page marked runnable, with the setup its marker names.

A block runs as it is written, in a fresh interpreter in an empty folder. A marker, an HTML comment on
the line before the block (invisible on GitHub and on the site), says that it runs and with which
setup: ``<!-- test: runs -->``, or ``<!-- test: runs with tiny_trainer -->`` for a block that uses a
``model`` and a ``datamodule`` (a tiny LightningModule and its data, defined by :data:`SETUPS`) and a
Trainer capped to one short epoch. README blocks run without a marker; a docs/ block without one does
not run (a fragment, or a command for a real corpus).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from tests.helpers.paths import ROOT

MARKER = re.compile(r"<!-- test: runs(?: with (\w+))? -->")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
GROUPS = ["aa", "iy", "p", "s", "m"]
FEATURES = 8


@dataclass(frozen=True)
class Example:
    """One Python block: where it is, its code, and the setup it runs with (None: as it is)."""

    file: str
    line: int
    code: str
    setup: str | None

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line}"


def examples(files: list[Path] | None = None) -> list[Example]:
    """Every block that runs: all of README.md's, and the marked ones of docs/*.md."""
    files = files or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in files:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = MARKER.fullmatch(before.strip())
            if marker or path.name == "README.md":
                line = text.count("\n", 0, match.start()) + 1
                setup = marker.group(1) if marker else None
                found.append(Example(path.relative_to(ROOT).as_posix(), line, match.group(1), setup))
    return found


class TinySpeechModel(L.LightningModule):
    """A frame classifier over ``[B, 8, T]`` features whose layers are named like the reference
    recogniser's (``model.conv3``, ``model.dense``), with a stride so that frame maps matter."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential()
        self.model.add_module("conv1", nn.Conv1d(FEATURES, 12, 5, padding=2))
        self.model.add_module("relu1", nn.ReLU())
        self.model.add_module("conv3", nn.Conv1d(12, 12, 3, stride=2, padding=1))
        self.model.add_module("relu3", nn.ReLU())
        self.model.add_module("dense", nn.Conv1d(12, 16, 1))
        self.model.add_module("out", nn.Conv1d(16, len(GROUPS), 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        targets = batch["phoneme_labels"][:, ::2]
        return F.cross_entropy(self(batch["features"]), targets, ignore_index=-1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def tiny_batches(count: int, seed: int, batch_size: int = 4, frames: int = 32) -> list[dict[str, torch.Tensor]]:
    """Batches as the README describes them: ``features``, ``phoneme_labels`` (-1 past each length)
    and ``feature_lengths``; the features carry their labels, so there is something to learn."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        labels = torch.randint(0, len(GROUPS), (batch_size, frames // 4), generator=generator).repeat_interleave(4, 1)
        features = torch.randn(batch_size, FEATURES, frames, generator=generator) + labels[:, None, :].float()
        lengths = torch.randint(frames // 2, frames + 1, (batch_size,), generator=generator)
        labels = torch.where(torch.arange(frames)[None, :] < lengths[:, None], labels, -1)
        batches.append({"features": features, "phoneme_labels": labels, "feature_lengths": lengths})
    return batches


class TinySpeechData(L.LightningDataModule):
    """Three training and two validation batches; ``group_names`` as the callback reads them."""

    group_names = GROUPS

    def train_dataloader(self) -> DataLoader:
        return DataLoader(tiny_batches(3, seed=1), batch_size=None)  # type: ignore[arg-type]  # a list is a dataset

    def val_dataloader(self) -> DataLoader:
        return DataLoader(tiny_batches(2, seed=2), batch_size=None)  # type: ignore[arg-type]


def cap_trainer() -> None:
    """Make every ``lightning`` Trainer made afterwards (in this process) short and quiet: one epoch,
    no progress bar, no checkpoint, logs in the current folder; what the example passes still wins."""
    original = L.Trainer.__init__

    def capped(self: L.Trainer, *args: Any, **kwargs: Any) -> None:
        defaults: dict[str, Any] = dict(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            log_every_n_steps=1,
        )
        original(self, *args, **{**defaults, **kwargs})

    L.Trainer.__init__ = capped  # type: ignore[method-assign]


#: Code run before a block, by the name its marker gives.
SETUPS = {
    "tiny_trainer": (
        "from tests.helpers.doc_examples import TinySpeechData, TinySpeechModel, cap_trainer\n"
        "cap_trainer()\n"
        "model, datamodule = TinySpeechModel(), TinySpeechData()\n"
    ),
}
