"""Scalar objectives ``y`` whose gradients weight the activations (GradNAP relevance ``a * dy/da``).

Every built-in objective takes the model's scores as ``[B, K, T]`` (``K`` classes, ``T`` output
frames; a classifier's ``[B, K]`` is treated as one frame) with a mask of the valid output frames,
and sums over the batch, so that one backward pass serves all utterances at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from lightning_gradnap.recording.frame_maps import AnyFrameMap

__all__ = [
    "OBJECTIVES",
    "ObjectiveInputs",
    "default_output_transform",
    "masked_objective",
    "resolve_objective",
    "scores_of",
]


def default_output_transform(output: Any) -> torch.Tensor:
    """The scores in a model's output: the tensor itself, the first tensor of a tuple with a class
    axis (so ``(aux_loss, logits)`` gives the logits), or ``output["logits"]``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        found = next((item for item in output if isinstance(item, torch.Tensor) and item.dim() >= 2), None)
        if found is not None:
            return found
    if isinstance(output, dict) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    keys = f" with keys {sorted(map(str, output))}" if isinstance(output, dict) else ""
    raise TypeError(
        f"cannot find the scores in a model output of type {type(output).__name__}{keys}: pass "
        "output_transform, a function output -> the [B, K, T] or [B, K] scores (e.g. lambda out: out['scores'])"
    )


def scores_of(output: Any, output_transform: Callable[[Any], torch.Tensor], class_dim: int) -> torch.Tensor:
    """The model's scores as ``[B, K, T]`` (a classifier's ``[B, K]`` as one frame)."""
    scores = output_transform(output)
    if not isinstance(scores, torch.Tensor) or scores.dim() not in (2, 3):
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(
            f"the objective needs scores [B, K] or [B, K, T], got {shape}: pass output_transform to pick them"
        )
    scores = scores.movedim(class_dim, 1)
    return scores[:, :, None] if scores.dim() == 2 else scores


@dataclass
class ObjectiveInputs:
    """What an objective may need besides the scores.

    Attributes:
        valid: ``[B, T]`` bool, the output frames inside each utterance.
        targets: Frame targets ``[B, T_in]`` (``-1`` = ignore) or utterance targets ``[B]`` for
            ``target_logprob``; padded label sequences ``[B, S]`` for ``ctc``.
        target_lengths: ``[B]`` lengths of the label sequences, for ``ctc``.
        blank: Index of the CTC blank class.
        frame_index: ``[T]`` input frame of each output frame (its receptive-field centre), to
            read frame targets; ``None``: output frames are input frames.
    """

    valid: torch.Tensor
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None
    blank: int = 0
    frame_index: torch.Tensor | None = None


def _masked_sum(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` where ``keep``: a NaN or inf in a padded frame is left out, not multiplied by 0."""
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()


ObjectiveFn = Callable[[torch.Tensor, ObjectiveInputs], torch.Tensor]


def predicted_logit(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Sum over valid frames of the score of the arg-max class (the paper's default)."""
    return _masked_sum(scores.max(dim=1).values, inputs.valid)


def predicted_logprob(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Sum over valid frames of the log-probability of the arg-max class."""
    return _masked_sum(scores.log_softmax(dim=1).max(dim=1).values, inputs.valid)


def target_logprob(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Sum over valid frames of the log-probability of the target class.

    Frame targets ``[B, T_in]`` are mapped to output frames like frame labels; ``-1`` frames and
    frames past the utterance are left out. Utterance targets ``[B]`` apply to every frame.
    """
    targets = _require_targets(inputs, "target_logprob")
    batch_size, _, num_frames = scores.shape
    if targets.dim() == 1:
        targets = targets[:, None].expand(batch_size, num_frames)
    elif targets.dim() == 2:
        index = torch.arange(num_frames, device=targets.device) if inputs.frame_index is None else inputs.frame_index
        inside = (index >= 0) & (index < targets.shape[1])
        targets = torch.where(inside[None, :], targets[:, index.clamp(0, targets.shape[1] - 1)], -1)
    else:
        raise ValueError(f"target_logprob needs targets of shape [B] or [B, T], got {tuple(targets.shape)}")
    keep = inputs.valid & (targets >= 0)
    log_probs = scores.log_softmax(dim=1).gather(1, targets.clamp(min=0)[:, None, :])[:, 0]
    return _masked_sum(log_probs, keep)


def negative_ctc_loss(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Minus the summed CTC loss of the transcripts (needs ``targets`` and ``target_lengths``)."""
    targets = _require_targets(inputs, "ctc")
    if inputs.target_lengths is None:
        raise ValueError("objective='ctc' needs target_lengths: the length of each label sequence")
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()  # ctc_loss has no half-precision kernels
    log_probs = scores.log_softmax(dim=1).permute(2, 0, 1)  # [T, B, K] as ctc_loss expects
    output_lengths = inputs.valid.sum(dim=1)
    loss = F.ctc_loss(
        log_probs,
        targets,
        output_lengths,
        inputs.target_lengths,
        blank=inputs.blank,
        reduction="sum",
        zero_infinity=True,
    )
    return -loss


def _require_targets(inputs: ObjectiveInputs, name: str) -> torch.Tensor:
    if inputs.targets is None:
        raise ValueError(f"objective={name!r} needs targets in each batch (ProfileBatch.targets)")
    return inputs.targets


OBJECTIVES: dict[str, ObjectiveFn] = {
    "predicted_logit": predicted_logit,
    "predicted_logprob": predicted_logprob,
    "target_logprob": target_logprob,
    "ctc": negative_ctc_loss,
}


def masked_objective(
    objective: ObjectiveFn,
    scores: torch.Tensor,
    lengths: torch.Tensor | None,
    output_map: AnyFrameMap | None,
    extra: ObjectiveInputs,
    label_rate: int = 1,
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """``objective`` on the valid output frames of each utterance (all frames without lengths).

    ``lengths`` count input time steps; frame targets come one per ``label_rate`` of them. ``keep``
    (``[B, T]`` bool) counts only those of the valid frames (e.g. the labelled ones).

    Padded frames of the scores are set to zero first, so that a NaN or inf there (e.g. ``log(0)``
    padding) reaches neither the objective nor any gradient.
    """
    frames = scores.shape[2]
    if lengths is None or output_map is None:
        valid = torch.ones(scores.shape[0], frames, dtype=torch.bool, device=scores.device)
        frame_index = None
    else:
        valid = output_map.valid(lengths.to(scores.device), frames)
        frame_index = torch.div(output_map.input_frames(frames, scores.device), label_rate, rounding_mode="floor")
    if keep is not None:
        valid = valid & keep.to(valid.device)
    scores = scores.masked_fill(~valid[:, None, :], 0)
    return objective(scores, replace(extra, valid=valid, frame_index=frame_index))


def resolve_objective(objective: str | ObjectiveFn) -> ObjectiveFn:
    """A built-in objective by name, or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``."""
    if callable(objective):
        return objective
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}: use one of {sorted(OBJECTIVES)} or a callable")
    return OBJECTIVES[objective]
