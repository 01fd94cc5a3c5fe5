"""Group means, normalised profiles, and the :class:`Profiles` result (its ``.npz`` file:
:mod:`lightning_gradnap.profiles.npz`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "ORDERING_KEYS",
    "FeatureViews",
    "LayerProfile",
    "Profiles",
    "group_means",
    "normalize_profiles",
]

FORMAT_VERSION = 1
#: Optional per-layer arrays of the views, saved as ``<key>_<i>`` (see :mod:`lightning_gradnap.analysis.tracking`).
ORDERING_KEYS = (
    "tracked_groups",
    "tracked_neurons",
    "tracked_anchor",
    "groups_2d",
    "cluster_groups",
    "cluster_neurons",
)
SCALES = (None, "std")


def group_means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``S / N`` per group; rows of absent groups (``N = 0``) are NaN."""
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    shape = (-1,) + (1,) * (sums.ndim - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts.reshape(shape)
    means[counts == 0] = np.nan
    return means


def normalize_profiles(
    means: np.ndarray, counts: np.ndarray, weight_by_count: bool = False, scale: str | None = None
) -> np.ndarray:
    """Centre group means on their mean over present groups (docs/METHOD.md §1.4).

    Args:
        means: ``[G, ...]`` group means, NaN rows for absent groups.
        counts: ``[G]`` frames per group.
        weight_by_count: Weight each group by its count in the centre (default: unweighted,
            as in the authors' code).
        scale: ``"std"`` also divides each neuron by its standard deviation over present groups
            (neurons with zero deviation are left unscaled); ``None`` does not scale.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    present = np.asarray(counts) > 0
    profile = np.full_like(means, np.nan, dtype=np.float64)
    if not present.any():
        return profile
    rows = means[present]
    weights = np.asarray(counts, dtype=np.float64)[present] if weight_by_count else None
    centred = rows - np.average(rows, axis=0, weights=weights)
    if scale == "std":
        spread = np.sqrt(np.average(centred**2, axis=0, weights=weights))
        centred = centred / np.where(spread > 0, spread, 1.0)
    profile[present] = centred
    return profile


@dataclass
class LayerProfile:
    """One layer's result.

    Attributes:
        profile: Normalised profile ``P``, ``[G, C]`` (``[G, C, W]`` time-resolved); NaN rows = absent.
        means: Raw group means ``M = S / N`` of the same shape.
        counts: ``[G]`` frames (utterances, segments) that fed each group.
        half_means: ``[2, G, ...]`` group means of each half of the data (split-half reliability),
            or ``None`` (files written before halves were kept).
        half_counts: ``[2, G]`` counts of each half, or ``None``.
    """

    profile: np.ndarray
    means: np.ndarray
    counts: np.ndarray
    half_means: np.ndarray | None = None
    half_counts: np.ndarray | None = None

    @property
    def present(self) -> np.ndarray:
        """``[G]`` bool: groups with at least one frame."""
        return self.counts > 0


@dataclass
class FeatureViews:
    """Input-domain views (docs/METHOD.md §1.7): mean input windows around each group's segments.

    Attributes:
        means: ``[G, F, W]`` mean input window per group (NaN for absent groups).
        weighted_means: ``[G, F, W]`` mean ``x * dy/dx`` window per group, or None (plain NAPs).
        counts: ``[G]`` segments per group.
        overall: ``[F, W]`` mean window over all segments.
    """

    means: np.ndarray
    weighted_means: np.ndarray | None
    counts: np.ndarray
    overall: np.ndarray


@dataclass
class Profiles:
    """Profiles of several layers over the same groups.

    Attributes:
        layers: Layer name -> :class:`LayerProfile`, in recording order.
        group_names: ``[G]`` names (e.g. phonemes).
        group_categories: ``[G]`` categories (e.g. "vowel"), or ``None``.
        metadata: How the profiles were made (method, objective, options; JSON-serialisable).
        features: The input-domain feature views of the same profiling, or None.
        orderings: Layer name -> the views' orderings (keys of :data:`ORDERING_KEYS` -> arrays),
            set by :class:`~lightning_gradnap.analysis.tracking.OrderTracker`; empty if none were made.
    """

    layers: dict[str, LayerProfile]
    group_names: list[str]
    group_categories: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    features: FeatureViews | None = None
    orderings: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group_categories is not None and len(self.group_categories) != len(self.group_names):
            raise ValueError(
                f"{len(self.group_categories)} group categories for {len(self.group_names)} groups: "
                "give one category per group"
            )

    def __getitem__(self, layer: str) -> LayerProfile:
        if layer not in self.layers:
            raise KeyError(f"no profile for layer {layer!r}; layers: {list(self.layers)}")
        return self.layers[layer]

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    @property
    def num_groups(self) -> int:
        return len(self.group_names)

    def absent_groups(self, layer: str | None = None) -> list[str]:
        """Names of the groups with no frames in ``layer`` (in any layer if ``None``)."""
        layers = [self[layer]] if layer else list(self.layers.values())
        absent = np.zeros(self.num_groups, dtype=bool)
        for result in layers:
            absent |= ~result.present
        return [name for name, gone in zip(self.group_names, absent) if gone]

    def method(self, method: str, missing_ok: bool = False) -> Profiles | None:
        """The profiles of one method of a file that holds several (see :meth:`combine`).

        Raises:
            KeyError: if the profiles hold no such method (unless ``missing_ok``: then None).
        """
        methods = self.metadata.get("methods", [self.metadata.get("method", "gradnap")])
        if method not in methods:
            if missing_ok:
                return None
            raise KeyError(f"no {method!r} profiles here; methods: {methods}")
        if len(methods) == 1:
            return self
        prefix = "" if method == methods[0] else f"{method}/"
        layers = {
            name[len(prefix) :]: layer
            for name, layer in self.layers.items()
            if (name.startswith(prefix) if prefix else not any(name.startswith(f"{m}/") for m in methods[1:]))
        }
        metadata = {key: value for key, value in self.metadata.items() if key != "methods"}
        orderings = {name: self.orderings[prefix + name] for name in layers if prefix + name in self.orderings}
        return Profiles(
            layers,
            list(self.group_names),
            self.group_categories,
            {**metadata, "method": method},
            self.features,
            orderings,
        )

    @classmethod
    def combine(cls, by_method: dict[str, Profiles]) -> Profiles:
        """One :class:`Profiles` holding several methods' profiles of the same layers and groups: the
        first method's layers under their names, the others' as ``"<method>/<layer>"``."""
        (first, profiles), *others = by_method.items()
        if not others:
            return profiles
        layers = dict(profiles.layers)
        for method, other in others:
            layers.update({f"{method}/{name}": layer for name, layer in other.layers.items()})
        metadata = {**profiles.metadata, "methods": list(by_method)}
        orderings = {
            f"{m}/{name}" if i else name: o
            for i, (m, p) in enumerate(by_method.items())
            for name, o in p.orderings.items()
        }
        return cls(
            layers, list(profiles.group_names), profiles.group_categories, metadata, profiles.features, orderings
        )

    def renormalized(self, weight_by_count: bool = False, scale: str | None = None) -> Profiles:
        """The same means, normalised with other options."""
        layers = {
            name: LayerProfile(
                normalize_profiles(r.means, r.counts, weight_by_count, scale),
                r.means,
                r.counts,
                r.half_means,
                r.half_counts,
            )
            for name, r in self.layers.items()
        }
        metadata = {**self.metadata, "weight_by_count": weight_by_count, "scale": scale}
        return Profiles(layers, list(self.group_names), self.group_categories, metadata, self.features, self.orderings)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ``.npz`` file atomically (temporary file in the same folder, then rename); see
        :mod:`lightning_gradnap.profiles.npz` for its layout."""
        from lightning_gradnap.profiles.npz import save_profiles

        return save_profiles(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profiles:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: if there is no such file.
            ValueError: if the file is truncated, corrupt, inconsistent or not a profile file
                (names the file and the part).
        """
        from lightning_gradnap.profiles.npz import load_profiles

        return load_profiles(path)


def check_group_names(names: Sequence[str] | None, num_groups: int, what: str = "group_names") -> list[str]:
    """``names`` as a list of ``num_groups`` strings, or ``"0" .. "G-1"`` when ``None``."""
    if names is None:
        return [str(g) for g in range(num_groups)]
    names = [str(name) for name in names]
    if len(names) != num_groups:
        raise ValueError(f"{len(names)} {what} for num_groups={num_groups}: give exactly one per group")
    return names
