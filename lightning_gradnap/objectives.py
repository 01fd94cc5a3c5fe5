"""Scalar objectives ``y`` whose gradients weight the activations (GradNAP relevance ``a * dy/da``).

Every built-in objective takes the model's scores as ``[B, K, T]`` (``K`` classes, ``T`` output
frames; a classifier's ``[B, K]`` is treated as one frame) with a mask of the valid output frames,
and sums over the batch, so that one backward pass serves all utterances at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lightning_gradnap.frames import layer_frame_index

__all__ = ["OBJECTIVES", "ObjectiveInputs", "resolve_objective"]


@dataclass
class ObjectiveInputs:
    """What an objective may need besides the scores.

    Attributes:
        valid: ``[B, T]`` bool, the output frames inside each utterance.
        targets: Frame targets ``[B, T_in]`` (``-1`` = ignore) or utterance targets ``[B]`` for
            ``target_logprob``; padded label sequences ``[B, S]`` for ``ctc``.
        target_lengths: ``[B]`` lengths of the label sequences, for ``ctc``.
        blank: Index of the CTC blank class.
    """

    valid: torch.Tensor
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None
    blank: int = 0


ObjectiveFn = Callable[[torch.Tensor, ObjectiveInputs], torch.Tensor]


def predicted_logit(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Sum over valid frames of the score of the arg-max class (the paper's default)."""
    return (scores.max(dim=1).values * inputs.valid).sum()


def predicted_logprob(scores: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Sum over valid frames of the log-probability of the arg-max class."""
    return (scores.log_softmax(dim=1).max(dim=1).values * inputs.valid).sum()


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
        targets = targets[:, layer_frame_index(targets.shape[1], num_frames, targets.device)]
    else:
        raise ValueError(f"target_logprob needs targets of shape [B] or [B, T], got {tuple(targets.shape)}")
    keep = inputs.valid & (targets >= 0)
    log_probs = scores.log_softmax(dim=1).gather(1, targets.clamp(min=0)[:, None, :])[:, 0]
    return (log_probs * keep).sum()


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


def resolve_objective(objective: str | ObjectiveFn) -> ObjectiveFn:
    """A built-in objective by name, or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``."""
    if callable(objective):
        return objective
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}: use one of {sorted(OBJECTIVES)} or a callable")
    return OBJECTIVES[objective]
