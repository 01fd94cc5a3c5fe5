"""Whether the model got each labelled frame (or example) right, as a split of each group in two
(``split_by_correctness``, docs/errors.md).

Group ``g`` becomes group ``2 g`` ("g correct") and ``2 g + 1`` ("g wrong"), so the engine's sums
simply hold ``2G`` rows: nothing downstream needs to know. The verdict comes from the scores of
the forward pass that is profiled (no second forward):

- **Frame labels** ``[B, F]``: each label frame is judged at the output frame nearest to it (the
  scores' frame map, found by the probe), by the arg-max class there, the frame-level best path.
  It is right when that class is one of the label's classes (``group_classes``). For a CTC model
  a best path of ``blank`` (a class that is no group's) says nothing about the frame: it is judged
  by ``blank_frames``.
- **Utterance labels** ``[B]`` (a classifier, scores ``[B, K]``): the predicted class against the label.

All of it is vectorised over the batch: no loop over frames, examples or groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_gradnap.recording.frame_maps import AnyFrameMap

__all__ = ["CorrectnessSplit", "split_labels"]


def split_labels(labels: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """``2 * label + wrong`` where ``label >= 0``, else ``-1`` (ignored stays ignored)."""
    return torch.where(labels >= 0, 2 * labels + wrong.long(), -1)


class CorrectnessSplit:
    """Splits labels by the model's correctness (see the module's docstring).

    Args:
        num_groups: ``G``, the groups before the split.
        group_classes: The output class (or classes) of each group, checked by
            :class:`~lightning_gradnap.config.EngineOptions`; ``None``: the classes are the groups (``K == G``)
            or the non-blank classes in order (``K == G + 1``).
        blank: The CTC blank class (a blank only when no group's classes include it).
        blank_frames: ``"segment"``, ``"wrong"`` or ``"ignore"`` (:class:`~lightning_gradnap.config.EngineOptions`).

    Raises:
        ValueError: if ``group_classes`` does not give one entry per group.
    """

    def __init__(
        self,
        num_groups: int,
        group_classes: Sequence[Sequence[int]] | None,
        blank: int = 0,
        blank_frames: str = "segment",
    ) -> None:
        if group_classes is not None and len(group_classes) != num_groups:
            raise ValueError(
                f"`group_classes` gives {len(group_classes)} entries, but there are {num_groups} groups: "
                "give the model's output class(es) of each group, in group order"
            )
        self.num_groups = num_groups
        self.group_classes = group_classes
        self.blank = blank
        self.blank_frames = blank_frames
        self._tables: dict[tuple[int, torch.device], torch.Tensor] = {}

    def class_table(self, num_classes: int, device: torch.device) -> torch.Tensor:
        """``[G, K]`` bool: which output classes count as right for each group (made once per ``K`` and device).

        Raises:
            ValueError: for a class outside ``0 .. K-1``, or ``K`` neither ``G`` nor ``G + 1`` without
                ``group_classes``.
        """
        key = (num_classes, device)
        if key not in self._tables:
            table = torch.zeros(self.num_groups, num_classes, dtype=torch.bool)
            for group, classes in enumerate(self._classes(num_classes)):
                table[group, list(classes)] = True
            self._tables[key] = table.to(device)
        return self._tables[key]

    def _classes(self, num_classes: int) -> Sequence[Sequence[int]]:
        groups = self.num_groups
        if self.group_classes is None:
            if num_classes == groups:
                return [(g,) for g in range(groups)]
            if num_classes == groups + 1 and 0 <= self.blank < num_classes:
                return [(g if g < self.blank else g + 1,) for g in range(groups)]
            raise ValueError(
                f"split_by_correctness compares the model's best class with each frame's label, but the model has "
                f"{num_classes} output classes and the labels {groups} groups, so which class is right for which "
                "group is not known: give `group_classes`, the output class (or list of classes) of each group "
                "(e.g. for phoneme labels and a character model, the letters that may spell each phoneme; "
                "docs/errors.md)"
            )
        wrong = [(g, c) for g, classes in enumerate(self.group_classes) for c in classes if c >= num_classes]
        if wrong:
            raise ValueError(
                f"`group_classes` names output class {wrong[0][1]} for group {wrong[0][0]}, but the model has "
                f"{num_classes} classes (0 .. {num_classes - 1})"
            )
        return self.group_classes

    def has_blank(self, table: torch.Tensor) -> bool:
        """Whether the ``blank`` class is a CTC blank here: a class of the model that is no group's class."""
        return 0 <= self.blank < table.shape[1] and not bool(table[:, self.blank].any())

    def split_examples(self, labels: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Utterance labels ``[B]`` split by the predicted class of scores ``[B, K, 1]`` (a classifier's).

        Raises:
            ValueError: for scores with more than one frame (which class an utterance's frames predict is
                not defined).
        """
        if scores.shape[2] != 1:
            raise ValueError(
                f"split_by_correctness with label_level='utterance' compares one predicted class per example, but "
                f"the scores have {scores.shape[2]} frames ([B, K, T]): give scores [B, K] (output_transform), "
                "or frame labels"
            )
        predicted = scores[:, :, 0].argmax(dim=1)
        table = self.class_table(scores.shape[1], scores.device)
        right = table[labels.clamp(min=0), predicted]
        return split_labels(labels, ~right)

    def split_frames(
        self,
        labels: torch.Tensor,
        scores: torch.Tensor,
        output_map: AnyFrameMap,
        lengths: torch.Tensor,
        label_rate: int = 1,
    ) -> torch.Tensor:
        """Frame labels ``[B, F]`` (``-1`` = ignore) split by the best path of scores ``[B, K, T]``.

        Args:
            labels: Label frames, masked past each length.
            scores: The model's scores, classes on axis 1 (detached).
            output_map: Where the scores' frames sit on the input.
            lengths: ``[B]`` valid input steps.
            label_rate: Input steps per label frame.
        """
        num_frames = scores.shape[2]
        if labels.numel() == 0 or num_frames == 0:
            return torch.full_like(labels, -1)
        best = scores.argmax(dim=1)  # [B, T] the frame-level best path
        table = self.class_table(scores.shape[1], scores.device)
        labels = labels.to(scores.device)
        label_frames = torch.arange(labels.shape[1], device=scores.device)
        doubled_centres = 2 * label_frames * label_rate + (label_rate - 1)  # of each label frame, in input steps
        nearest = output_map.nearest_frame(doubled_centres).to(scores.device)
        inside = (nearest >= 0) & (nearest < num_frames)
        nearest = nearest.clamp(0, num_frames - 1)
        valid = output_map.valid(lengths.to(scores.device), num_frames)[:, nearest] & inside[None, :]
        labels = torch.where(valid, labels, -1)
        predicted = best[:, nearest]  # [B, F] the best class at each label frame
        right = table[labels.clamp(min=0), predicted] & (labels >= 0)
        if not self.has_blank(table):
            return split_labels(labels, ~right)
        blank = predicted == self.blank
        wrong = ~right
        if self.blank_frames == "ignore":
            labels = torch.where(blank, -1, labels)
        elif self.blank_frames == "segment":
            wrong = torch.where(blank, ~_segment_any(labels, right), wrong)
        return split_labels(labels, wrong)


def _segment_any(labels: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """``[B, F]``: whether ``flags`` holds at some frame of each frame's run of one label (per row)."""
    flat = labels.reshape(-1)
    starts = torch.ones_like(flat, dtype=torch.bool)
    starts[1:] = flat[1:] != flat[:-1]
    starts[:: labels.shape[1]] = True  # a row starts a run
    run = starts.long().cumsum(0) - 1
    hits = torch.zeros(flat.numel(), dtype=torch.long, device=flat.device)
    hits.index_add_(0, run, flags.reshape(-1).long())
    return (hits[run] > 0).view_as(labels)
