"""Character frame labels by CTC forced alignment of a model's emissions."""

from __future__ import annotations

import warnings

import torch
import torchaudio.functional

__all__ = ["forced_character_labels"]


def forced_character_labels(
    logits: torch.Tensor,
    targets: torch.Tensor,
    output_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    num_input_frames: int,
    blank: int = 0,
) -> torch.Tensor:
    """Align each transcript to the model's emissions and label every input frame by its character.

    Frames aligned to the blank get ``-1``; other tokens are numbered without the blank (with
    ``blank=0``, token ``k + 1`` is group ``k``).
    Input frame ``i`` takes the label of output frame ``i * T_out // T_in``. An utterance that
    cannot be aligned (fewer frames than the transcript needs) is labelled ``-1`` throughout.

    Args:
        logits: ``[B, K, T_out]`` scores.
        targets: ``[B, S]`` token ids, padded.
        output_lengths: ``[B]`` valid output frames.
        target_lengths: ``[B]`` transcript lengths.
        num_input_frames: ``T_in`` of the labels to return.
        blank: The blank's token id.

    Returns:
        ``[B, T_in]`` int64 labels on the logits' device.
    """
    log_probs = logits.detach().float().log_softmax(dim=1).cpu()
    batch_size, _, num_output_frames = log_probs.shape
    frame_tokens = torch.full((batch_size, num_output_frames), blank, dtype=torch.long)
    for b in range(batch_size):  # forced_align takes one utterance at a time
        frames, length = int(output_lengths[b]), int(target_lengths[b])
        if length == 0 or frames == 0:
            continue
        tokens = targets[b, :length].cpu().to(torch.int32)
        repeats = int((tokens[1:] == tokens[:-1]).sum())
        if frames < length + repeats:
            continue  # too short for its transcript (CTC needs a blank between repeats): unlabelled
        emission = log_probs[b, :, :frames].T.contiguous()[None]  # [1, T, K]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # torchaudio's deprecation notice
            path, _ = torchaudio.functional.forced_align(emission, tokens[None], blank=blank)
        frame_tokens[b, :frames] = path[0].long()
    groups = frame_tokens - (frame_tokens > blank).long()  # token ids without the blank: 0 .. K-2
    groups[frame_tokens == blank] = -1
    index = torch.arange(num_input_frames) * num_output_frames // num_input_frames
    return groups[:, index].to(logits.device)
