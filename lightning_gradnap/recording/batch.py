"""What one profiling batch holds, and how plain tuples and dicts become one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any, overload

import torch
from torch import nn

__all__ = [
    "BatchReader",
    "LabelFn",
    "ProfileBatch",
    "as_profile_batch",
    "check_labels",
    "model_device",
    "prepare_input",
]


@dataclass
class ProfileBatch:
    """Inputs and group labels of one batch.

    Attributes:
        inputs: The model's positional input(s): ``model(*inputs)`` (a single tensor is wrapped).
        labels: Frame labels ``[B, T]`` (``label_level="frame"``) or one label per example ``[B]``
            (``label_level="utterance"``); integers in ``0 .. G-1``, negative = ignore. ``None`` only
            while labels are still to be computed from the model's output.
        lengths: Valid frames per example ``[B]``, or ``None`` if nothing is padded. Frame level:
            counted on the labels' time axis. Utterance level: on the last axis of the first input.
        targets: For the ``target_logprob`` objective, frame targets ``[B, T]`` or example targets
            ``[B]``; for ``ctc``, padded label sequences ``[B, S]``.
        target_lengths: For ``ctc``, the length of each label sequence ``[B]``.
    """

    inputs: torch.Tensor | tuple[torch.Tensor, ...]
    labels: torch.Tensor | None
    lengths: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None

    @property
    def input_tuple(self) -> tuple[torch.Tensor, ...]:
        return self.inputs if isinstance(self.inputs, tuple) else (self.inputs,)


_FIELDS = [f.name for f in fields(ProfileBatch)]
LabelFn = Callable[[Any], torch.Tensor]  # the model's output -> labels


def as_profile_batch(batch: object) -> ProfileBatch:
    """Accept a :class:`ProfileBatch`, a mapping with its field names, or a tuple
    ``(inputs, labels[, lengths])``. Lengths given as a list or an array become a tensor."""
    if isinstance(batch, ProfileBatch):
        result = batch
    elif isinstance(batch, Mapping):
        missing = [key for key in ("inputs", "labels") if key not in batch]
        if missing:
            raise KeyError(f"batch mapping lacks {missing}; keys found: {sorted(batch)}; expected {_FIELDS}")
        result = ProfileBatch(**{key: batch[key] for key in _FIELDS if key in batch})
    elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        result = ProfileBatch(*batch)
    else:
        raise TypeError(
            f"cannot read a profiling batch from {type(batch).__name__}: give a ProfileBatch, a dict with "
            f"keys {_FIELDS}, or a tuple (inputs, labels[, lengths])"
        )
    if result.lengths is None or isinstance(result.lengths, torch.Tensor):
        return result
    return replace(result, lengths=_as_lengths(result.lengths))


def _as_lengths(lengths: object) -> torch.Tensor | None:
    """Lengths given as a list or an array, as a tensor (a tensor or None as it is)."""
    if lengths is None or isinstance(lengths, torch.Tensor):
        return lengths
    return torch.as_tensor(lengths, dtype=torch.long)


def check_labels(
    labels: object, label_level: str, num_groups: int, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """The labels as long integers, after checking their shape and range (one host synchronisation).

    Any negative label means "ignore" (``-100`` is PyTorch's usual ``ignore_index``) and becomes ``-1``;
    at frame level, label frames beyond ``lengths`` (padding; counted in label frames, absolute) are ignored
    too, whatever they hold, so the range is checked inside the valid frames only.

    Raises:
        ValueError: saying what shape, dtype or range was expected.
    """
    expected = 2 if label_level == "frame" else 1
    if not isinstance(labels, torch.Tensor) or labels.dim() != expected:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(
            f"label_level={label_level!r} needs labels of shape {'[B, T]' if expected == 2 else '[B]'}, got {shape}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers (group indices, -1 = ignore), got {labels.dtype}")
    labels = labels.long()
    if labels.numel() == 0:
        return labels
    ignored = labels < 0
    if expected == 2 and lengths is not None and lengths.shape == labels.shape[:1] and not lengths.is_floating_point():
        frames = torch.arange(labels.shape[1], device=labels.device)
        ignored |= frames[None, :] >= lengths.to(labels.device)[:, None]
    labels = labels.masked_fill(ignored, -1)
    low, high = torch.stack([labels.min(), labels.max()]).tolist()
    if high >= num_groups:
        raise ValueError(
            f"labels range from {low} to {high}, but must lie in -1 .. {num_groups - 1} "
            f"(num_groups={num_groups}; negative = ignore): raise num_groups or fix the labels"
        )
    return labels


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model without either."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


@overload
def prepare_input(value: torch.Tensor, device: torch.device, requires_grad: bool) -> torch.Tensor: ...
@overload
def prepare_input(value: object, device: torch.device, requires_grad: bool) -> object: ...
def prepare_input(value: object, device: torch.device, requires_grad: bool) -> object:
    """Move a tensor input to the model's device, out of inference mode, as a leaf that may need grad."""
    if not isinstance(value, torch.Tensor):
        return value
    tensor = value.to(device)
    if tensor.is_inference():
        tensor = tensor.clone()
    if requires_grad and tensor.is_floating_point():
        tensor = tensor.detach().requires_grad_(True)
    return tensor


class BatchReader:
    """Reads a training framework's batch as a :class:`ProfileBatch` (the label protocol).

    * A **mapping** batch gives the inputs under ``inputs`` and the labels under ``labels``
      (and ``lengths``, ``targets``, ``target_lengths`` when those keys are set and present).
    * If the batch has no ``labels`` key but ``owner`` (e.g. the LightningModule) has a method of
      that name, the labels are ``owner.<labels>(batch, output)``: computed from the batch and the
      model's output (e.g. by forced alignment).
    * A **tuple/list** batch is read as ``(inputs, labels[, lengths])`` (e.g. a classifier's
      ``(x, y)`` with utterance-level labels).

    Args:
        inputs: Key of the model input, or keys of its positional inputs in order (e.g.
            ``["features", "feature_lengths"]`` for a ``forward(features, lengths)`` that masks
            padding). The first is the one profiled in the input domain.
        labels: Key of the labels, or the name of a method of ``owner``.
        lengths: Key of the valid frames per example (``None``: no padding).
        targets: Key of the objective's targets (``target_logprob``, ``ctc``).
        target_lengths: Key of the target lengths (``ctc``).
    """

    def __init__(
        self,
        inputs: str | Sequence[str] = "features",
        labels: str = "phoneme_labels",
        lengths: str | None = "feature_lengths",
        targets: str | None = "targets",
        target_lengths: str | None = "target_lengths",
    ) -> None:
        self.input_keys = [inputs] if isinstance(inputs, str) else list(inputs)
        if not self.input_keys:
            raise ValueError("`inputs` names no batch key: give the key of the model input")
        self.keys = {"inputs": self.input_keys[0], "labels": labels, "lengths": lengths}
        self.optional = {"targets": targets, "target_lengths": target_lengths}

    def label_method(self, batch: object, owner: object) -> Callable[..., torch.Tensor] | None:
        """The owner's label method, when the labels are not in the batch."""
        name = self.keys["labels"]
        if isinstance(batch, Mapping) and name in batch:
            return None
        method = getattr(owner, name, None) if name else None
        if callable(method):
            return method
        if isinstance(batch, Mapping):
            raise KeyError(
                f"the batch has no key {name!r} and {type(owner).__name__} has no method {name!r}; "
                f"batch keys: {sorted(map(str, batch))}. Set the callback's `labels` to the key that holds "
                "the frame labels (or to a method name of the LightningModule)"
            )
        return None

    def inputs(self, batch: object) -> torch.Tensor:
        """The (first) model input of ``batch``."""
        return self.input_tuple(batch)[0]

    def input_tuple(self, batch: object) -> tuple[torch.Tensor, ...]:
        """The model's positional inputs in ``batch``."""
        if isinstance(batch, Mapping):
            missing = [key for key in self.input_keys if key not in batch]
            if missing:
                raise KeyError(
                    f"the batch has no input key {missing[0]!r}; batch keys: {sorted(map(str, batch))}. "
                    "Set the callback's `inputs` to the key(s) of the model input"
                )
            return tuple(batch[key] for key in self.input_keys)
        if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
            return (batch[0],)
        raise TypeError(f"cannot read the inputs of a {type(batch).__name__} batch: use a dict or a tuple (x, y)")

    def check(self, batch: object, owner: object, label_level: str, num_groups: int) -> None:
        """Read ``batch`` and check its labels (unless a method of ``owner`` computes them from the output), as
        a profiling would: a misspelled key or labels out of range show before training, not after an epoch.

        Raises:
            KeyError: for a key that the batch lacks (lists its keys).
            ValueError: for labels of the wrong shape, type or range.
        """
        if isinstance(batch, ProfileBatch):
            return  # read as it is at profiling, and checked then
        method = self.label_method(batch, owner)
        self.input_tuple(batch)
        if method is not None:
            return  # computed from the model's output, checked then
        if isinstance(batch, Mapping):
            lengths_key = self.keys["lengths"]
            labels, lengths = batch[self.keys["labels"]], batch.get(lengths_key) if lengths_key else None
        elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            labels, lengths = batch[1], batch[2] if len(batch) == 3 else None
        else:
            return  # another form: read and checked at profiling
        check_labels(labels, label_level, num_groups, _as_lengths(lengths))

    def read(self, batch: object, owner: object = None) -> tuple[ProfileBatch, LabelFn | None]:
        """The :class:`ProfileBatch` of ``batch``, read once where it enters, and the function that
        computes its labels from the model's output when a method of ``owner`` gives them (the
        batch's labels are ``None`` until then; the method is called as ``method(batch, output)``).
        """
        method = self.label_method(batch, owner)
        label_fn = None if method is None else partial(method, batch)
        if not isinstance(batch, Mapping):
            if method is not None:
                return ProfileBatch(self.inputs(batch), None), label_fn
            return as_profile_batch(tuple(batch) if isinstance(batch, list) else batch), None
        lengths_key = self.keys["lengths"]
        lengths = batch.get(lengths_key) if lengths_key else None
        extra = {name: batch.get(key) for name, key in self.optional.items() if key}
        inputs = self.input_tuple(batch)
        labels = None if method is not None else batch[self.keys["labels"]]  # None: computed from the output
        model_inputs = inputs if len(inputs) > 1 else inputs[0]
        read = ProfileBatch(model_inputs, labels, _as_lengths(lengths), **extra)
        return read, label_fn
