"""The opt-in causal check of the profiles (docs/faithfulness.md): does zeroing the neurons a profile
ranks first for a group, at that group's own frames, lower the objective more than zeroing as many
random neurons?

Pure tensor code, no Trainer. For one layer and each group ``g``, a selection ``[G, C]`` marks ``k``
neurons (:func:`top_neurons` of a profile, or :func:`random_neurons`). One forward ablates every group
at once: each layer frame's mask is its own group's row, ``mask[b, c, t] = selected[label[b, t], c]``,
built with one gather (:func:`frame_selection`) and brought to the layer's own axes by the same
``[B, C, T]`` map the engine folds with (:func:`in_output_layout`). Frames without a label are left
as they are. :func:`measure_drops` runs the clean forward and one ablated forward per selection, and
gives the objective's drop on the labelled output frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lightning_gradnap.engine.axes import channels_first, lengths_and_labels, scores_bct
from lightning_gradnap.engine.folds.base import FoldBatch
from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.objectives import ObjectiveInputs, masked_objective
from lightning_gradnap.recording.probe import OUTPUT

if TYPE_CHECKING:
    from lightning_gradnap.engine.engine import ProfileEngine

__all__ = [
    "ablated",
    "faithfulness_ratio",
    "frame_selection",
    "in_output_layout",
    "layer_selections",
    "measure_drops",
    "random_neurons",
    "top_neurons",
]


def top_neurons(profile: np.ndarray, k: int) -> torch.Tensor:
    """``[G, C]`` bool: each group's ``k`` neurons of largest profile value (its most positive, i.e. most
    relevant beyond the other groups); a group that is absent (NaN row) selects none.

    A time-resolved ``[G, C, W]`` profile is ranked by its mean over the window. Ties go to the lower index.
    """
    values = profile.reshape(profile.shape[0], profile.shape[1], -1).mean(axis=2)
    present = ~np.isnan(values).any(axis=1)
    order = np.argsort(-np.nan_to_num(values, nan=0.0), axis=1, kind="stable")[:, :k]
    selected = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(selected, order, True, axis=1)
    selected[~present] = False
    return torch.from_numpy(selected)


def random_neurons(present: np.ndarray, num_neurons: int, k: int, seed: int) -> torch.Tensor:
    """``[G, C]`` bool: ``k`` neurons drawn at random for each present group (its own draw; none for an
    absent one), the same for the same ``seed``."""
    draws = np.random.default_rng(seed).random((len(present), num_neurons))
    selected = np.zeros(draws.shape, dtype=bool)
    np.put_along_axis(selected, np.argsort(draws, axis=1)[:, :k], True, axis=1)
    selected[~np.asarray(present, dtype=bool)] = False
    return torch.from_numpy(selected)


def frame_selection(selected: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each frame's mask from its own label, in one gather: ``[B, C, T]`` from frame labels ``[B, T]``
    (``mask[b, c, t] = selected[labels[b, t], c]``), ``[B, C]`` from utterance labels ``[B]``; a negative
    label (ignored, padding) masks nothing."""
    num_groups = selected.shape[0]
    padded = torch.cat([selected, selected.new_zeros(1, selected.shape[1])]).to(labels.device)
    chosen = padded[torch.where(labels < 0, num_groups, labels)]  # [B, T, C] or [B, C]
    return chosen.movedim(-1, 1) if labels.dim() == 2 else chosen


def in_output_layout(
    mask: torch.Tensor, output: torch.Tensor, to_bct: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``mask`` (``[B, C, T]`` or ``[B, C]``, as ``to_bct(output)`` or its first two axes) on ``output``'s own
    axes: ``to_bct`` (the engine's map of this layer) carries each position's flat index, so the inverse
    is exact for every layout (time first, channels last, folded 4-D neurons)."""
    if to_bct(output) is output:  # already [B, C, T] (or [B, C]): nothing to move
        return _expanded(mask, output.shape).to(output.device)
    positions = to_bct(torch.arange(output.numel(), device=output.device).reshape(output.shape))
    mask = _expanded(mask, positions.shape)
    flat = torch.zeros(output.numel(), dtype=torch.bool, device=output.device)
    flat[positions.reshape(-1)] = mask.reshape(-1).to(output.device)
    return flat.reshape(output.shape)


def _expanded(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """An utterance's ``[B, C]`` mask at each of its positions of ``shape`` (a frame mask as it is)."""
    return mask.reshape(*mask.shape, *[1] * (len(shape) - mask.dim())).expand(shape)


@contextmanager
def ablated(module: nn.Module, mask_of: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Inside the block, ``module``'s output (or its tuple's first tensor) is zeroed where ``mask_of(output)``
    is true; the hook is removed on every way out."""

    def hook(_module: nn.Module, _inputs: object, output: Any) -> Any:
        tensor = output if isinstance(output, torch.Tensor) else next(x for x in output if isinstance(x, torch.Tensor))
        zeroed = torch.where(mask_of(tensor), torch.zeros((), dtype=tensor.dtype, device=tensor.device), tensor)
        if isinstance(output, torch.Tensor):
            return zeroed
        return type(output)([zeroed if item is tensor else item for item in output])

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def measure_drops(
    engine: ProfileEngine,
    model: nn.Module,
    modules: Mapping[str, nn.Module],
    batch: ProfileBatch,
    selections: Mapping[str, Mapping[str, torch.Tensor]],
    label_fn: Callable[[Any], torch.Tensor] | None = None,
) -> dict[str, dict[str, float]]:
    """The objective's drop (clean minus ablated, summed over the labelled output frames) of one batch, for
    each layer and each of its selections: one clean forward, then one per layer and selection.

    Args:
        engine: A prepared engine (frame maps and layouts found): its objective, layouts and frame maps.
        model: The network; ``batch``'s inputs are on its device.
        modules: The checked layers' modules by name.
        batch: The batch; its labels (or ``label_fn`` of the clean output) give each frame's group.
        selections: Layer -> selection name -> ``[G, C]`` bool neurons per group.
        label_fn: Labels from the model's output instead of ``batch.labels``.

    Returns:
        Layer -> selection name -> drop (and ``"frames"``: the labelled output frames counted).
    """
    options = engine.options
    with torch.no_grad():
        clean = model(*batch.input_tuple)
        labels = batch.labels if label_fn is None else label_fn(clean)
        rate = options.label_rate
        lengths, labels = lengths_and_labels(
            batch, labels, engine.input_time_axis, rate, engine.label_level, engine.num_groups
        )
        frame_level = engine.label_level == "frame"
        device = _scores(engine, clean).device
        halves = torch.zeros(labels.shape[0], dtype=torch.long)  # one half: the check does not split the data
        fold_batch = FoldBatch.make(labels, lengths, frame_level, engine.frame_maps, device, halves, rate)
        objective = _objective(engine, batch, fold_batch)
        clean_value, frames = objective(clean)
        drops: dict[str, dict[str, float]] = {}
        for name, by_kind in selections.items():
            drops[name] = {"frames": frames}
            for kind, selected in by_kind.items():
                mask_of = partial(_layer_mask, fold_batch, name, _to_bct(engine, name), selected, frame_level)
                with ablated(modules[name], mask_of):
                    drops[name][kind] = float(clean_value - objective(model(*batch.input_tuple))[0])
    return drops


def faithfulness_ratio(top_drop: float, random_drop: float) -> float:
    """``top_drop / random_drop``; NaN when the random drop is not positive (no chance band to read against)."""
    return top_drop / random_drop if random_drop > 0 and np.isfinite(random_drop) else float("nan")


def _layer_mask(
    fold_batch: FoldBatch,
    name: str,
    to_bct: Callable[[torch.Tensor], torch.Tensor],
    selected: torch.Tensor,
    frame_level: bool,
    output: torch.Tensor,
) -> torch.Tensor:
    """Layer ``name``'s mask on its ``output``: each frame's (each example's) own group's selected neurons."""
    labels = fold_batch.layer_labels(name, to_bct(output).shape[2]) if frame_level else fold_batch.labels
    return in_output_layout(frame_selection(selected, labels), output, to_bct)


def _scores(engine: ProfileEngine, output: Any) -> torch.Tensor:
    return scores_bct(output, engine.output_transform, engine.options.class_dim, engine.layouts.get(OUTPUT))


def _to_bct(engine: ProfileEngine, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    layout, level, channels_last = engine.layouts.get(name), engine.label_level, engine.options.channels_last
    return lambda tensor: channels_first(name, tensor, layout, level, channels_last)


def _objective(
    engine: ProfileEngine, batch: ProfileBatch, fold_batch: FoldBatch
) -> Callable[[Any], tuple[torch.Tensor, int]]:
    """The engine's objective of an output, summed over the labelled output frames (``ctc``, which is no sum
    over frames: over every utterance), and how many labelled output frames there are."""
    options = engine.options
    extra = ObjectiveInputs(None, batch.targets, batch.target_lengths, options.blank)  # type: ignore[arg-type]
    output_map = fold_batch.frame_maps.get(OUTPUT)

    def keep_of(num_frames: int) -> torch.Tensor:
        if engine.label_level == "frame" and output_map is not None:
            return fold_batch.layer_labels(OUTPUT, num_frames) >= 0
        labelled = fold_batch.labels >= 0 if fold_batch.labels.dim() == 1 else (fold_batch.labels >= 0).any(dim=1)
        return labelled[:, None].expand(-1, num_frames)

    per_frame = options.objective != "ctc"

    def objective(output: Any) -> tuple[torch.Tensor, int]:
        scores = _scores(engine, output)
        keep = keep_of(scores.shape[2])
        if fold_batch.lengths is not None and output_map is not None:
            keep = keep & output_map.valid(fold_batch.lengths, scores.shape[2])
        value = masked_objective(
            engine.objective,
            scores,
            fold_batch.lengths,
            output_map,
            extra,
            options.label_rate,
            keep if per_frame else None,
        )
        return value, int(keep.sum())

    return objective


def layer_selections(profiles: Mapping[str, np.ndarray], k: int, seed: int) -> dict[str, torch.Tensor]:
    """One layer's selections: each method's top ``k`` (:func:`top_neurons`, by method name) and ``"random"``
    (:func:`random_neurons` for the groups present in every method's profile)."""
    first = next(iter(profiles.values()))
    present = np.logical_and.reduce([~np.isnan(p.reshape(p.shape[0], -1)).any(axis=1) for p in profiles.values()])
    selections = {method: top_neurons(profile, k) for method, profile in profiles.items()}
    selections["random"] = random_neurons(present, first.shape[1], k, seed)
    return selections
