"""From summed state (per process, or reduced over all) to :class:`Profiles` and feature views.

A state maps names to ``(sums, counts)`` by half. :class:`StateContents` says which names hold
which method's layers (:func:`state_key`, the one place that names them), so that whoever holds a
state (the engine, or the analysis after a reduction over processes) turns it into profiles here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lightning_gradnap.profiles.result import (
    FeatureViews,
    LayerProfile,
    Profiles,
    check_group_names,
    group_means,
    normalize_profiles,
)

__all__ = ["StateContents", "feature_views_from_state", "profiles_from_state", "profiles_of_method", "state_key"]

State = Mapping[str, tuple[torch.Tensor, torch.Tensor]]


def state_key(methods: Sequence[str], method: str, layer: str) -> str:
    """Name of a layer's sums in a state: the layer for the first method, else ``method/layer``."""
    return layer if method == methods[0] else f"{method}/{layer}"


@dataclass(frozen=True)
class StateContents:
    """What a state holds, and the options that made it.

    Attributes:
        methods: The methods profiled, first (the default) first; names by :func:`state_key`.
        layers: The layers profiled.
        num_groups: Number of groups ``G``.
        metadata: What the files keep of the options that filled the state (and e.g. ``skipped_batches``).
    """

    methods: tuple[str, ...]
    layers: tuple[str, ...]
    num_groups: int
    metadata: dict[str, Any] = field(default_factory=dict)


def profiles_of_method(
    state: State,
    contents: StateContents,
    method: str | None = None,
    group_names: Sequence[str] | None = None,
    group_categories: Sequence[str] | None = None,
    weight_by_count: bool = False,
    scale: str | None = None,
) -> Profiles:
    """Normalised profiles of ``method`` (default: the first) from ``state`` (:func:`profiles_from_state`).

    Raises:
        ValueError: for a method the state does not hold, if no batch has been profiled, or if every
            group is absent.
    """
    method = method or contents.methods[0]
    if method not in contents.methods:
        raise ValueError(f"this engine profiles {list(contents.methods)}, not {method!r}")
    keys = {state_key(contents.methods, method, name): name for name in contents.layers}
    layers = {keys[key]: value for key, value in state.items() if key in keys}
    if not layers:
        skipped = contents.metadata.get("skipped_batches", 0)
        note = f" ({skipped} skipped as NaN or inf)" if skipped else ""
        raise ValueError(f"no batch has been profiled{note}: give at least one batch with labelled frames")
    metadata = {**contents.metadata, "weight_by_count": weight_by_count, "scale": scale, "method": method}
    return profiles_from_state(
        layers, contents.num_groups, group_names, group_categories, weight_by_count, scale, metadata
    )


def profiles_from_state(
    state: State,
    num_groups: int,
    group_names: Sequence[str] | None = None,
    group_categories: Sequence[str] | None = None,
    weight_by_count: bool = False,
    scale: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Profiles:
    """Group means ``S / N`` and normalised profiles of each layer's ``(sums, counts)``, given by half
    (``[2, G, ...]`` and ``[2, G]``, as :meth:`~lightning_gradnap.engine.group_sums.SumsByName.state`).

    Raises:
        ValueError: if every group is absent in every layer.
    """
    names = check_group_names(group_names, num_groups)
    categories = (
        None if group_categories is None else check_group_names(group_categories, num_groups, "group_categories")
    )
    layers = {}
    for name, (sum_tensors, count_tensors) in state.items():
        half_sums, half_counts = sum_tensors.detach().cpu().numpy(), count_tensors.detach().cpu().numpy()
        sums, counts = half_sums.sum(axis=0), half_counts.sum(axis=0)
        means = group_means(sums, counts)
        half_means = np.stack([group_means(s, c) for s, c in zip(half_sums, half_counts, strict=True)])
        profile = normalize_profiles(means, counts, weight_by_count, scale)
        layers[name] = LayerProfile(profile, means, counts, half_means, half_counts)
    if all(not layer.present.any() for layer in layers.values()):
        raise ValueError(
            "every group is absent: no frame carried a label in 0 .. G-1 (all -1, or all past the "
            "lengths); check the labels and lengths of the batches"
        )
    return Profiles(layers, names, categories, dict(metadata or {}))


def feature_views_from_state(state: State) -> FeatureViews | None:
    """Mean input windows per group (and of ``x * dy/dx``) from the ``"<input>"`` entries, or None."""
    if "<input>" not in state:
        return None
    sums, counts = (t.detach().cpu().numpy().sum(axis=0) for t in state["<input>"])  # both halves
    weighted = state.get("<input_x_grad>")
    return FeatureViews(
        group_means(sums, counts),
        None if weighted is None else group_means(weighted[0].detach().cpu().numpy().sum(axis=0), counts),
        counts,
        sums.sum(axis=0) / max(counts.sum(), 1.0),
    )
