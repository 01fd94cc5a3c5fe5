"""A user's view of the callback on real speech models: a tiny LightningModule around any network,
generated utterances, a short ``fit`` with :class:`~lightning_gradnap.GradNAPCallback`, and the saved
profiles read back (for the model matrix in ``tests/models``).

The data: ``G`` groups; each utterance is a run of labelled segments (some ``-1``: ignored), one
label per ``label_rate`` input steps, and inputs that carry the labels (so that training moves the
weights in a direction that depends on them). Padding past each utterance is zero (inputs) and
``-1`` (labels).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from lightning_gradnap import GradNAPCallback, Profiles
from tests.helpers.brute_force import Utterance

GROUPS = ["aa", "iy", "p", "s"]


@dataclass
class Example:
    """One utterance before padding: ``input [..., T]`` (time last, as generated), labels ``[T // label_rate]``."""

    input: torch.Tensor
    labels: torch.Tensor

    @property
    def length(self) -> int:
        return self.input.shape[-1]


def make_examples(
    count: int,
    lengths: Sequence[int],
    channels: int | None,
    label_rate: int = 1,
    seed: int = 0,
    segment: int = 3,
) -> list[Example]:
    """``count`` utterances with lengths drawn from ``lengths`` (input steps, multiples of ``label_rate``).

    ``channels``: feature channels of ``input [channels, T]``; ``None`` for a waveform ``[T]``.
    Labels are segments of ``segment`` label frames, about one in six of them ``-1``.
    """
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for index in range(count):
        length = int(lengths[index % len(lengths)])
        assert length % label_rate == 0, "lengths are multiples of label_rate"
        label_frames = length // label_rate
        segments = -(-label_frames // segment)
        labels = torch.randint(-1, len(GROUPS) + 5, (segments,), generator=generator)
        labels = torch.where(labels >= len(GROUPS), labels % len(GROUPS), labels)  # -1 about 1 in 9
        labels = labels.repeat_interleave(segment)[:label_frames]
        per_step = labels.clamp(min=0).repeat_interleave(label_rate).float()
        shape = (length,) if channels is None else (channels, length)
        signal = torch.randn(shape, generator=generator)
        if channels is None:
            signal = signal * 0.5 + torch.sin(per_step * 0.7 + torch.arange(length) * 0.3)
        else:
            signal = signal + torch.cos(per_step[None, :] * (1 + torch.arange(channels)[:, None]))
        examples.append(Example(signal, labels))
    return examples


InputLayout = Callable[[torch.Tensor], torch.Tensor]


def time_last(inputs: torch.Tensor) -> torch.Tensor:
    return inputs


def collate(
    examples: Sequence[Example], input_key: str, layout: InputLayout = time_last, relative_key: str | None = None
) -> dict[str, torch.Tensor]:
    """A padded dict batch: ``input_key`` (``layout`` of the time-last ``[B, ..., T]``), ``lengths [B]``
    (input steps), ``frame_labels [B, L]`` and, if ``relative_key``, SpeechBrain-style relative lengths."""
    longest = max(example.length for example in examples)
    label_frames = max(len(example.labels) for example in examples)
    inputs = layout(torch.stack([F.pad(example.input, (0, longest - example.length)) for example in examples]))
    labels = torch.stack(
        [F.pad(example.labels, (0, label_frames - len(example.labels)), value=-1) for example in examples]
    )
    lengths = torch.tensor([example.length for example in examples])
    batch = {input_key: inputs, "lengths": lengths, "frame_labels": labels}
    if relative_key is not None:
        batch[relative_key] = lengths.double() / longest
    return batch


def batches(
    examples: Sequence[Example],
    batch_size: int,
    input_key: str,
    layout: InputLayout = time_last,
    relative_key: str | None = None,
) -> list[dict[str, torch.Tensor]]:
    return [
        collate(examples[start : start + batch_size], input_key, layout, relative_key)
        for start in range(0, len(examples), batch_size)
    ]


class FrameTask(L.LightningModule):
    """A network in a LightningModule: ``forward(*inputs)`` gives its scores; the loss is the frame
    cross-entropy of the scores against the labels resampled to the output frames (any loss will do:
    the tests profile the weights ``fit`` leaves).

    Args:
        net: The network.
        input_keys: Batch keys of ``net``'s positional inputs.
        class_dim: Axis of the classes in ``net``'s scores.
        scores_of: Picks the scores from ``net``'s output (default: the output, or a tuple's first item).
    """

    group_names = GROUPS

    def __init__(
        self,
        net: nn.Module,
        input_keys: Sequence[str],
        class_dim: int = 1,
        scores_of: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.input_keys = list(input_keys)
        self.class_dim = class_dim
        self.scores_of = scores_of or (lambda out: out[0] if isinstance(out, (tuple, list)) else out)

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.net(*inputs)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = self.scores_of(self(*[batch[key] for key in self.input_keys])).movedim(self.class_dim, 1)
        labels = batch["frame_labels"]
        index = (torch.arange(scores.shape[2]) * labels.shape[1] // scores.shape[2]).clamp(max=labels.shape[1] - 1)
        return F.cross_entropy(scores, labels[:, index], ignore_index=-1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val_loss", loss, batch_size=len(batch["lengths"]))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def trainer(root: str, callback: GradNAPCallback) -> L.Trainer:
    from lightning.pytorch.loggers import TensorBoardLogger

    return L.Trainer(
        max_epochs=1,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
        logger=TensorBoardLogger(root, name="tb"),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        default_root_dir=root,
        callbacks=[callback],
    )


def saved_profiles(root: str) -> Profiles:
    """The one ``.npz`` the callback wrote under ``root``."""
    files = sorted(glob.glob(os.path.join(root, "**", "profiles", "*.npz"), recursive=True))
    assert len(files) == 1, f"expected one profiles file under {root}, found {files}"
    return Profiles.load(files[0])


def fit_and_profile(task: FrameTask, train: list, val: list, root: str, callback: GradNAPCallback) -> Profiles:
    """``fit`` for one epoch (profiling every validation batch); the saved profiles."""
    trainer(root, callback).fit(task, DataLoader(train, batch_size=None), DataLoader(val, batch_size=None))
    task.eval()
    return saved_profiles(root)


def validate_and_profile(task: FrameTask, val: list, root: str, callback: GradNAPCallback) -> Profiles:
    """``validate`` once with ``callback`` (e.g. one utterance per batch); the saved profiles."""
    trainer(root, callback).validate(task, DataLoader(val, batch_size=None), verbose=False)
    return saved_profiles(root)


def utterances(
    examples: Sequence[Example], input_key: str, keys: Sequence[str], layout: InputLayout = time_last
) -> list:
    """The examples unpadded, one at a time, as the reference takes them: the network's inputs
    ``keys`` of a batch of one."""
    alone = [collate([example], input_key, layout, relative_key="wav_lens") for example in examples]
    return [
        Utterance(tuple(batch[key] for key in keys), example.labels, example.length)
        for batch, example in zip(alone, examples, strict=True)
    ]
