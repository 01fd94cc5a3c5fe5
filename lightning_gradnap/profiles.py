"""Group means, normalised profiles, and the :class:`Profiles` result with its ``.npz`` file.

File layout (``Profiles.save``), readable with plain ``numpy.load(path)`` (no pickle):

=====================  ==================================================================
key                    content
=====================  ==================================================================
``format_version``     int, currently 1
``layers``             ``[L]`` str, layer names in order
``group_names``        ``[G]`` str
``group_categories``   ``[G]`` str (empty strings when no categories were given)
``metadata``           str, a JSON object (method, objective, normalisation, ...)
``profile_<i>``        float64 ``[G, C_i]`` (``[G, C_i, W]`` time-resolved), NaN rows = absent
``means_<i>``          float64, same shape: raw group means ``S / N`` before normalisation
``counts_<i>``         float64 ``[G]``: frames (or utterances, or segments) per group
=====================  ==================================================================

``<i>`` is the index of the layer in ``layers``. Optional keys, the orderings of the views
(:attr:`Profiles.orderings`, see :mod:`lightning_gradnap.tracking`): ``tracked_groups_<i>``,
``tracked_neurons_<i>``, ``tracked_anchor_<i>``, ``groups_2d_<i>``, ``cluster_groups_<i>``,
``cluster_neurons_<i>``. Files without them load with empty orderings.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION", "ORDERING_KEYS", "FeatureViews", "LayerProfile", "Profiles", "group_means", "normalize_profiles",
]  # fmt: skip

FORMAT_VERSION = 1
#: Optional per-layer arrays of the views, saved as ``<key>_<i>`` (see :mod:`lightning_gradnap.tracking`).
ORDERING_KEYS = ("tracked_groups", "tracked_neurons", "tracked_anchor", "groups_2d", "cluster_groups", "cluster_neurons")
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
    """Centre group means on their mean over present groups (DESIGN §1.4).

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
    """

    profile: np.ndarray
    means: np.ndarray
    counts: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """``[G]`` bool: groups with at least one frame."""
        return self.counts > 0


@dataclass
class FeatureViews:
    """Input-domain views (DESIGN §1.7): mean input windows around each group's segments.

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
        orderings: Layer name -> the views' orderings (keys of :data:`ORDERING_KEYS` -> arrays),
            set by :class:`~lightning_gradnap.tracking.OrderTracker`; empty if none were made.
    """

    layers: dict[str, LayerProfile]
    group_names: list[str]
    group_categories: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
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

    def renormalized(self, weight_by_count: bool = False, scale: str | None = None) -> Profiles:
        """The same means, normalised with other options."""
        layers = {
            name: LayerProfile(normalize_profiles(r.means, r.counts, weight_by_count, scale), r.means, r.counts)
            for name, r in self.layers.items()
        }
        metadata = {**self.metadata, "weight_by_count": weight_by_count, "scale": scale}
        return Profiles(layers, list(self.group_names), self.group_categories, metadata)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the ``.npz`` file atomically (temporary file in the same folder, then rename)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"profile files end in .npz, got {str(path)!r}")
        arrays: dict[str, np.ndarray] = {
            "format_version": np.array(FORMAT_VERSION),
            "layers": np.array(self.layer_names, dtype=str),
            "group_names": np.array(self.group_names, dtype=str),
            "group_categories": np.array(self.group_categories or [""] * self.num_groups, dtype=str),
            "metadata": np.array(json.dumps(self.metadata)),
        }
        for i, result in enumerate(self.layers.values()):
            arrays[f"profile_{i}"] = result.profile
            arrays[f"means_{i}"] = result.means
            arrays[f"counts_{i}"] = result.counts
        arrays.update(_ordering_arrays(self.orderings, self.layer_names))
        _atomic_savez(path, arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Profiles:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: if there is no such file.
            ValueError: if the file is truncated, corrupt or not a profile file (names the file).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise ValueError(f"format version {version}, this library reads {FORMAT_VERSION}")
                layer_names = [str(name) for name in data["layers"]]
                layers = {
                    name: LayerProfile(data[f"profile_{i}"], data[f"means_{i}"], data[f"counts_{i}"])
                    for i, name in enumerate(layer_names)
                }
                categories = [str(c) for c in data["group_categories"]]
                return cls(
                    layers,
                    [str(name) for name in data["group_names"]],
                    categories if any(categories) else None,
                    json.loads(str(data["metadata"])),
                    _read_orderings(data, layer_names),
                )
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
            raise ValueError(
                f"{str(path)!r} is not a readable profile file ({type(error).__name__}: {error}); "
                "it may be truncated or corrupt: write it again with Profiles.save"
            ) from error


def _ordering_arrays(orderings: dict[str, dict[str, np.ndarray]], layer_names: list[str]) -> dict[str, np.ndarray]:
    """The orderings as ``<key>_<i>`` arrays (``<i>``: the layer's index)."""
    return {
        f"{key}_{layer_names.index(layer)}": np.asarray(value)
        for layer, arrays in orderings.items() if layer in layer_names
        for key, value in arrays.items() if key in ORDERING_KEYS
    }  # fmt: skip


def _read_orderings(data: Any, layer_names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """The optional ``<key>_<i>`` arrays of an open archive (none in older files)."""
    orderings: dict[str, dict[str, np.ndarray]] = {}
    for i, layer in enumerate(layer_names):
        found = {key: data[f"{key}_{i}"] for key in ORDERING_KEYS if f"{key}_{i}" in data.files}
        if found:
            orderings[layer] = found
    return orderings


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside ``path`` (created with the umask's permissions), then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temporary, "xb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def check_group_names(names: Sequence[str] | None, num_groups: int, what: str = "group_names") -> list[str]:
    """``names`` as a list of ``num_groups`` strings, or ``"0" .. "G-1"`` when ``None``."""
    if names is None:
        return [str(g) for g in range(num_groups)]
    names = [str(name) for name in names]
    if len(names) != num_groups:
        raise ValueError(f"{len(names)} {what} for num_groups={num_groups}: give exactly one per group")
    return names
