"""What one profiling batch holds, and how plain tuples and dicts become one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch

__all__ = ["ProfileBatch", "as_profile_batch"]


@dataclass
class ProfileBatch:
    """Inputs and group labels of one batch.

    Attributes:
        inputs: The model's positional input(s): ``model(*inputs)`` (a single tensor is wrapped).
        labels: Frame labels ``[B, T]`` (``label_level="frame"``) or one label per example ``[B]``
            (``label_level="utterance"``); integers in ``0 .. G-1``, ``-1`` = ignore.
        lengths: Valid frames per example ``[B]``, or ``None`` if nothing is padded. Frame level:
            counted on the labels' time axis. Utterance level: on the last axis of the first input.
        targets: For the ``target_logprob`` objective, frame targets ``[B, T]`` or example targets
            ``[B]``; for ``ctc``, padded label sequences ``[B, S]``.
        target_lengths: For ``ctc``, the length of each label sequence ``[B]``.
    """

    inputs: torch.Tensor | tuple[torch.Tensor, ...]
    labels: torch.Tensor
    lengths: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None

    @property
    def input_tuple(self) -> tuple[torch.Tensor, ...]:
        return self.inputs if isinstance(self.inputs, tuple) else (self.inputs,)


_FIELDS = [f.name for f in fields(ProfileBatch)]


def as_profile_batch(batch: object) -> ProfileBatch:
    """Accept a :class:`ProfileBatch`, a mapping with its field names, or a tuple
    ``(inputs, labels[, lengths])``."""
    if isinstance(batch, ProfileBatch):
        return batch
    if isinstance(batch, Mapping):
        missing = [key for key in ("inputs", "labels") if key not in batch]
        if missing:
            raise KeyError(f"batch mapping lacks {missing}; keys found: {sorted(batch)}; expected {_FIELDS}")
        return ProfileBatch(**{key: batch[key] for key in _FIELDS if key in batch})
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return ProfileBatch(*batch)
    raise TypeError(
        f"cannot read a profiling batch from {type(batch).__name__}: give a ProfileBatch, a dict with "
        f"keys {_FIELDS}, or a tuple (inputs, labels[, lengths])"
    )
