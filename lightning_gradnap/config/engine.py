"""The engine's options: how each batch becomes relevance and group sums."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightning_gradnap.config.choices import (
    BLANK_FRAMES,
    LABEL_LEVELS,
    METHODS,
    OBJECTIVE_NAMES,
    WINDOW_CENTRES,
    BlankFrames,
    LabelLevel,
    Method,
    Objective,
    WindowCenter,
    check_choice,
    check_frames,
)


@dataclass(frozen=True)
class EngineOptions:
    """How each batch becomes relevance and group sums (:class:`~lightning_gradnap.ProfileEngine`).

    Attributes:
        method: ``"gradnap"`` (relevance ``a * dy/da``), ``"nap"`` (relevance ``a``), or both
            (``["gradnap", "nap"]``: one forward and backward give both; the first is the default
            of results). A list is kept as a tuple.
        objective: The scalar ``y`` whose gradient GradNAPs use: ``"predicted_logit"`` (the score of
            the predicted class at each valid frame), ``"predicted_logprob"``, ``"target_logprob"``
            (needs ``targets``), ``"ctc"`` (the negative CTC loss; needs ``targets`` and
            ``target_lengths``), or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``.
        absolute: Profile ``|a * g|`` (``|a|`` for NAPs).
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``: a class
            per example, its relevance averaged over its valid frames first).
        window: Time-resolved profiles: this many layer frames around each labelled segment
            (frame level only), giving ``[G, C, window]`` profiles; ``None``: one profile per group.
        window_center: Centre of the window: ``"segment"`` (the segment's centre) or ``"salient"``
            (its frame of largest ``sum_c |dy/da|``; GradNAP only).
        class_dim: Axis of the classes in the model's scores (``[B, K, T]``: 1; ``[B, T, K]``: 2);
            ``None``: found by probing.
        channels_last: Layer outputs (and the input) are ``[B, T, C]`` (True) or ``[B, C, T]`` (False);
            a dict says it per layer (``"<input>"``: the first input); ``None`` (or a layer not in the
            dict): each layer's layout found by probing (the axis that grows with the input's length
            is time, the one of size B the batch, the rest neurons).
        blank: CTC blank index (``objective="ctc"``).
        output_transform: Picks the scores from the model's output; default: the tensor, the first
            tensor of a tuple with a class axis, or ``output["logits"]``.
        input_window: Input-domain feature views (frame level): also average windows of this many
            input frames of the first input ``x`` (``[B, F, T]``), and of ``x * dy/dx``, around
            each labelled segment; ``None``: none.
        label_rate: Input time steps per frame label (160 for 10 ms labels of 16 kHz audio); lengths
            count input time steps.
        skip_failing_input_views: Leave the input views out with a warning where they cannot be cut.
        split_by_correctness: Split each group ``g`` into ``"g correct"`` and ``"g wrong"`` by whether the model's
            best class (the arg-max of the same forward's scores) is right at that frame (frame labels; CTC:
            the frame-level best path) or for that example (utterance labels): ``2G`` groups, group
            ``2 g + wrong`` (docs/errors.md).
        group_classes: With ``split_by_correctness``: the model's output class of each of the ``G`` groups, or a
            list of classes that all count as right (e.g. the letters that may spell a phoneme); ``None``:
            the classes are the groups (``K == G``), or the non-blank classes in order (``K == G + 1``, a CTC
            model whose ``blank`` is no group's class). Any other ``K`` needs it (an error says so).
        blank_frames: With ``split_by_correctness``, a frame whose best path is the CTC ``blank`` (a class that is
            no group's): ``"segment"`` takes the verdict of its labelled segment (right if the best path
            gives one of the label's classes at some frame of the segment), ``"wrong"`` counts it wrong,
            ``"ignore"`` leaves it out of both halves of the split.

    Raises:
        ValueError: for a value out of its range (the message names the option and what it allows).
    """

    method: Method | Sequence[Method] = "gradnap"
    objective: Objective | Callable[..., Any] = "predicted_logit"
    absolute: bool = False
    label_level: LabelLevel = "frame"
    window: int | None = None
    window_center: WindowCenter = "segment"
    class_dim: int | None = 1
    channels_last: bool | Mapping[str, bool] | None = False
    blank: int = 0
    output_transform: Callable[[Any], Any] | None = None
    input_window: int | None = None
    label_rate: int = 1
    skip_failing_input_views: bool = False
    split_by_correctness: bool = False
    group_classes: Sequence[int | Sequence[int]] | None = None
    blank_frames: BlankFrames = "segment"

    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            object.__setattr__(self, "method", tuple(self.method))
        methods = self.methods
        if not methods or len(set(methods)) != len(methods):
            raise ValueError(f"`method` should name each of {list(METHODS)} at most once, got {list(methods)!r}")
        for method in methods:
            check_choice("method", method, METHODS)
        if not callable(self.objective) and self.objective not in OBJECTIVE_NAMES:
            raise ValueError(
                f"Unknown objective {self.objective!r}: `objective` should be one of {list(OBJECTIVE_NAMES)} "
                "or a callable (scores, ObjectiveInputs) -> scalar"
            )
        check_choice("label_level", self.label_level, LABEL_LEVELS)
        check_choice("window_center", self.window_center, WINDOW_CENTRES)
        check_frames("window", self.window, self.label_level)
        check_frames("input_window", self.input_window, self.label_level)
        rate = self.label_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ValueError(f"label_rate must be a positive integer (input time steps per label frame), got {rate!r}")
        if self.window_center == "salient" and "gradnap" not in methods:
            raise ValueError("window_center='salient' needs gradients: use method='gradnap'")
        if self.output_transform is not None and not callable(self.output_transform):
            raise ValueError(f"`output_transform` should be a callable or None, got {self.output_transform!r}")
        check_choice("blank_frames", self.blank_frames, BLANK_FRAMES)
        if self.group_classes is not None:
            if not self.split_by_correctness:
                raise ValueError("`group_classes` says what counts as right: it needs split_by_correctness=True")
            object.__setattr__(self, "group_classes", checked_group_classes(self.group_classes))

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods, first (the default of results) first."""
        return (self.method,) if isinstance(self.method, str) else tuple(self.method)

    @property
    def needs_gradients(self) -> bool:
        return "gradnap" in self.methods

    @property
    def objective_name(self) -> str:
        """The objective's name (a callable's ``__name__``), for the files' metadata."""
        return self.objective if isinstance(self.objective, str) else getattr(self.objective, "__name__", "custom")


def checked_group_classes(group_classes: Sequence[int | Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """``group_classes`` as one tuple of output classes per group (an int alone becomes a tuple of one)."""
    if isinstance(group_classes, (str, bytes)) or not isinstance(group_classes, Sequence):
        raise ValueError(
            f"`group_classes` should be a list with one output class (or list of them) per group, got {group_classes!r}"
        )
    checked = []
    for group, entry in enumerate(group_classes):
        classes = (entry,) if isinstance(entry, int) else tuple(entry) if isinstance(entry, Sequence) else (entry,)
        if not classes or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in classes):
            raise ValueError(
                f"`group_classes`[{group}] = {entry!r}: give the model's output class of the group (an index >= 0) "
                "or a non-empty list of them"
            )
        checked.append(classes)
    return tuple(checked)
