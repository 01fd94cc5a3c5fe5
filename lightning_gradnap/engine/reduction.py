"""Sums and counts of every process added up, so that a profile covers the whole validation set.

One collective call for the "did every process profile?" check and one for all layers' sums and
counts together (flattened into one tensor). Both are made on every process, never under a
rank-zero guard. No Trainer needed: the caller passes its strategy's ``reduce``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["NothingProfiled", "reduce_state"]

State = dict[str, tuple[torch.Tensor, torch.Tensor]]
Reduce = Callable[[torch.Tensor], torch.Tensor]


class NothingProfiled(Exception):
    """No process profiled a labelled frame: nothing to write (the message says why)."""


def reduce_state(
    state: State, reduce_sum: Reduce, world_size: int, device: torch.device, layers: set[str], skipped_batches: int = 0
) -> State:
    """``state`` summed over all processes.

    Args:
        state: ``{name: (sums, counts)}`` of this process (empty if it profiled nothing).
        reduce_sum: Sums a tensor over all processes (e.g. ``partial(strategy.reduce, reduce_op="sum")``).
        world_size: Number of processes.
        device: Where the flag of the first collective call lives (the strategy's root device).
        layers: The names in ``state`` that are layers (the others are input views).
        skipped_batches: Batches this process skipped as non-finite (for the message).

    Raises:
        RuntimeError: if some processes profiled batches and others none.
        NothingProfiled: if no process profiled a batch, or no frame carried a group label.
    """
    flags = reduce_sum(torch.tensor([float(bool(state)), float(skipped_batches)], device=device))
    everywhere, skipped = float(flags[0]), int(flags[1])
    if everywhere < world_size:
        if everywhere > 0:
            raise RuntimeError(
                "GradNAPCallback: some processes profiled no validation batch while others did; give every "
                "process at least one validation batch (more validation data, or fewer devices)"
            )
        if skipped:
            raise NothingProfiled(
                f"GradNAPCallback: all {skipped} profiled validation batches were skipped because their relevance "
                "was NaN or inf in labelled frames (see the warnings); skipping this profiling. Check the model's "
                "outputs on validation data (a diverged model, or non-finite values inside the utterances)"
            )
        raise NothingProfiled("GradNAPCallback: no validation batch was profiled (empty validation set?); skipping")
    flat = reduce_sum(torch.cat([torch.cat([sums.flatten(), counts.flatten()]) for sums, counts in state.values()]))
    reduced, offset = {}, 0
    for name, (sums, counts) in state.items():
        size, count_size = sums.numel(), counts.numel()
        reduced[name] = (
            flat[offset : offset + size].view_as(sums),
            flat[offset + size : offset + size + count_size].view_as(counts),
        )
        offset += size + count_size
    if all(float(counts.sum()) == 0 for name, (_, counts) in reduced.items() if name in layers):
        raise NothingProfiled(
            "GradNAPCallback: no profiled frame carried a group label (all -1 or past the lengths); "
            "skipping this profiling. Check the labels the batches carry."
        )
    return reduced
