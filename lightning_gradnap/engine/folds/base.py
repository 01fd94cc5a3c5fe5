"""The fold interface and what it reads of one batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch

from lightning_gradnap.engine.group_sums import GroupSums
from lightning_gradnap.engine.segments import IGNORE, Segments, find_segments, mask_lengths
from lightning_gradnap.recording.frame_maps import AnyFrameMap

__all__ = ["BatchSums", "Fold", "FoldBatch", "relevance_of"]

BatchSums = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class FoldBatch:
    """One batch's labels, on the values' device, and where each layer's frames sit.

    Attributes:
        labels: Frame labels ``[B, T_in]`` (``IGNORE`` at and past each length) or utterance
            labels ``[B]``; long integers.
        lengths: ``[B]`` valid input frames (frame level: the padded length where none were
            given), or ``None`` (utterance level without lengths: every position counts).
        frame_maps: Map of each layer with a time axis (see :mod:`lightning_gradnap.recording.frame_maps`).
        halves: ``[B]`` the half of the data (0 or 1) each example belongs to
            (:func:`~lightning_gradnap.engine.folds.halves.split_halves`).
        saliency: ``[B, T_layer]`` per layer, ``sum_c |dy/da|`` (salient window centres only).
        label_rate: Input time steps per label frame: layer frame ``t`` takes label
            ``frame_map.input_frames(t) // label_rate``; ``lengths`` count input time steps.
    """

    labels: torch.Tensor
    lengths: torch.Tensor | None
    frame_maps: Mapping[str, AnyFrameMap]
    halves: torch.Tensor
    saliency: dict[str, torch.Tensor] | None = None
    label_rate: int = 1
    _layer_labels: dict[tuple, torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def make(
        cls,
        labels: torch.Tensor,
        lengths: torch.Tensor | None,
        frame_level: bool,
        frame_maps: Mapping[str, AnyFrameMap] | None,
        device: torch.device,
        halves: torch.Tensor,
        label_rate: int = 1,
    ) -> FoldBatch:
        """On ``device``; frame labels masked past the lengths (the padded length where none are given);
        ``halves`` as the attribute; ``lengths`` count input time steps, ``label_rate`` of them per label
        frame.

        Raises:
            RuntimeError: if lengths need frame maps that have not been found yet.
        """
        if lengths is None and frame_level:
            lengths = torch.full((labels.shape[0],), labels.shape[1] * label_rate)
        if lengths is not None and frame_maps is None:
            raise RuntimeError(
                "the frame maps are not known yet: call engine.prepare(model, batch) once before the forward "
                "pass whose hooks feed accumulate (run_batch does so)"
            )
        lengths = None if lengths is None else lengths.to(device)
        labels = labels.to(device)
        if frame_level:  # a label frame is valid when its first input step lies inside the utterance
            labels = mask_lengths(
                labels, None if lengths is None else -torch.div(-lengths, label_rate, rounding_mode="floor")
            )
        return cls(labels, lengths, frame_maps or {}, halves.to(device), label_rate=label_rate)

    def label_frames(self, input_frames: torch.Tensor) -> torch.Tensor:
        """The label frame of each input time step (``input_frames // label_rate``, exactly)."""
        if self.label_rate == 1:
            return input_frames
        return torch.div(input_frames, self.label_rate, rounding_mode="floor")

    def label_positions(self, doubled_starts_plus_ends: torch.Tensor) -> torch.Tensor:
        """Doubled input-step centres of label-frame spans given as ``start + end`` (``end`` inclusive)."""
        return doubled_starts_plus_ends * self.label_rate + (self.label_rate - 1)

    @cached_property
    def segments(self) -> Segments:
        """Runs of one label in the input frames (frame level)."""
        return find_segments(self.labels)

    def layer_valid(self, name: str, num_frames: int) -> torch.Tensor:
        """``[B, T_layer]`` frames of layer ``name`` that belong to each utterance."""
        assert self.lengths is not None
        return self.frame_maps[name].valid(self.lengths, num_frames)

    def layer_labels(self, name: str, num_frames: int) -> torch.Tensor:
        """``[B, T_layer]`` label of each layer frame (that of its centre's input frame), or ``IGNORE``.

        Shared by layers with the same map and frame count.
        """
        frame_map = self.frame_maps[name]
        key = (frame_map, num_frames)
        if key not in self._layer_labels:
            label_frames = self.label_frames(frame_map.input_frames(num_frames, self.labels.device))
            inside = label_frames.clamp(0, self.labels.shape[1] - 1)
            valid = self.layer_valid(name, num_frames)
            if self.label_rate != 1:  # a centre past the last label frame has no label
                valid = valid & (label_frames < self.labels.shape[1])[None, :]
            labels = torch.where(valid, self.labels[:, inside], IGNORE)
            self._layer_labels[key] = labels
        return self._layer_labels[key]


class Fold(ABC):
    """Folds one batch's per-layer values (``[B, C, T]`` or ``[B, C]``) into group sums."""

    @abstractmethod
    def batch_sums(
        self, values: Mapping[str, torch.Tensor], batch: FoldBatch, sums: Mapping[str, GroupSums]
    ) -> BatchSums:
        """Sums and counts of this batch by name, from ``sums[name]`` (each layer's accumulator)."""

    @property
    def needs_segments(self) -> bool:
        """Whether the fold cuts windows around labelled segments."""
        return False


def relevance_of(activation: torch.Tensor, gradient: torch.Tensor | None, absolute: bool = False) -> torch.Tensor:
    """``a`` (NAP) or ``a * g`` (GradNAP), ``|...|`` if ``absolute``.

    The product is taken in place in ``gradient``, which must be the caller's own tensor (the
    recorder hands out one per layer).
    """
    if gradient is None:
        return activation.detach().abs() if absolute else activation.detach()
    relevance = gradient.mul_(activation.detach())
    return relevance.abs_() if absolute else relevance
