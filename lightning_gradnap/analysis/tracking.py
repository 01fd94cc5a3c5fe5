"""Orderings that hold still while the network changes (docs/METHOD.md §2): the tracked views.

A view watched with TensorBoard's step slider must keep its rows, columns and colour scale, so
that a phoneme or a neuron can be followed from step to step. This module computes those
orderings, both **incrementally** (:class:`OrderTracker`, fed one :class:`Profiles` per
profiling; its :attr:`~OrderTracker.state` is plain lists and numbers, kept in checkpoints) and
**offline** from saved profiles (:func:`track_orderings`), with the same result. It needs no
Trainer and no figures.

**Rows (groups)** are in one fixed order for the whole run and for every layer: by category, the
categories in order of first appearance in ``group_categories``, and within a category in the
order of ``group_names`` (:func:`category_order`). It depends on no data, so it never moves;
a group without frames at some step keeps its (empty) row.

**Columns (neurons)** are *anchored*: at the first profiling where the layer has structure
(:func:`has_structure`: its first principal component explains more than it does in each of
20 copies with every neuron's values shuffled across groups, Horn's parallel analysis), each
neuron is placed under
the group it supports most, in the row order, the strongest first
(:func:`preferred_neuron_order`). Rows by category and columns by preferred group make a
selective layer a block diagonal. The order is then kept for the rest of the run:
later steps show neurons sharpening, or changing their preference, against it. Before the anchor
the neurons are in index order. :meth:`OrderTracker.reanchor` takes a new anchor at the next
profiling, on request only.

**Colour scale**: a tracked heatmap shows the profile divided by its root mean square over
present cells (:func:`unit_rms`), with fixed limits (``±``:data:`TRACKED_LIMIT`), and prints the
RMS. Colours compare across steps and layers; how large the profile is, is the printed number.

**2-D view**: each step's embedding of the groups is rotated (or reflected) onto the previous
step's by orthogonal Procrustes (:mod:`lightning_gradnap.analysis.embedding`), so that points move rather
than flip.

Every result is a :class:`TrackedOrder` per layer; :meth:`TrackedOrder.to_arrays` gives the
arrays that :meth:`Profiles.save` writes (``tracked_groups_<i>``, ``tracked_neurons_<i>``,
``tracked_anchor_<i>``, ``groups_2d_<i>``, and the step's own clustering ``cluster_groups_<i>``,
``cluster_neurons_<i>``), and :meth:`TrackedOrder.from_arrays` reads them back from
:attr:`Profiles.orderings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lightning_gradnap.analysis.embedding import aligned_embedding
from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis, clustered_order
from lightning_gradnap.config import EMBEDDINGS
from lightning_gradnap.profiles.result import Profiles, window_mean

__all__ = [
    "PERMUTATIONS",
    "TRACKED_LIMIT",
    "OrderTracker",
    "TrackedOrder",
    "category_order",
    "has_structure",
    "preferred_neuron_order",
    "track_orderings",
    "unit_rms",
]

#: Colour limits of the tracked heatmaps, in units of the profile's RMS.
TRACKED_LIMIT = 3.0
#: Shuffled copies that a layer's first principal component must beat to count as structure.
PERMUTATIONS = 20


def category_order(num_groups: int, group_categories: Sequence[str] | None = None) -> np.ndarray:
    """Group indices by category (categories in order of first appearance), then by index."""
    if group_categories is None:
        return np.arange(num_groups)
    rank = {category: i for i, category in enumerate(dict.fromkeys(group_categories))}
    return np.array(sorted(range(num_groups), key=lambda g: (rank[group_categories[g]], g)), dtype=int)


def unit_rms(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """``(matrix / rms, rms)``, the RMS taken over finite cells (1 where there are none or all are 0)."""
    finite = matrix[np.isfinite(matrix)]
    rms = float(np.sqrt(np.mean(finite**2))) if finite.size else 0.0
    rms = rms if rms > 0 else 1.0
    return matrix / rms, rms


def _first_share(rows: np.ndarray) -> float:
    """Share of variance of the first principal component of ``rows`` (centred here)."""
    singular = np.linalg.svd(rows - rows.mean(axis=0), compute_uv=False)
    total = float(np.sum(singular**2))
    return float(singular[0] ** 2) / total if total > 0 else 0.0


def has_structure(profile: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0) -> bool:
    """Whether a layer's groups differ by more than chance, so that its neurons can be anchored.

    Horn's parallel analysis: the first principal component of the present groups'
    (window-averaged) profiles explains a larger share of variance than in every one of
    ``permutations`` copies in which each neuron's values are shuffled across the groups (which
    keeps each neuron's values and breaks what the groups share). False positives: about
    ``1 / (permutations + 1)``. Needs 3 present groups; deterministic for a ``seed``.
    """
    matrix = window_mean(profile)
    rows = matrix[np.isfinite(matrix).all(axis=1)]
    if len(rows) < 3 or not np.any(rows - rows.mean(axis=0)):
        return False
    generator = np.random.default_rng(seed)
    observed = _first_share(rows)
    return all(observed > _first_share(generator.permuted(rows, axis=0)) for _ in range(permutations))


def preferred_neuron_order(profile: np.ndarray, group_order: Sequence[int] | np.ndarray) -> np.ndarray:
    """Neurons sorted by the row (in ``group_order``) of the group they support most, the
    strongest first within a row; neurons with no positive value (or no data) go last."""
    rows = window_mean(profile)[np.asarray(group_order, dtype=int)]
    filled = np.where(np.isfinite(rows), rows, -np.inf)
    peak = filled.max(axis=0) if len(rows) else np.full(rows.shape[1], -np.inf)
    position = np.where(peak > 0, filled.argmax(axis=0) if len(rows) else 0, len(rows))
    return np.lexsort((np.arange(rows.shape[1]), -np.where(peak > 0, peak, 0.0), position))


@dataclass
class TrackedOrder:
    """One layer's orderings at one profiling.

    Attributes:
        groups: ``[G]`` row order of the tracked views (every group, by category).
        neurons: ``[C]`` column order of the tracked views (anchored; index order before).
        anchor_step: Step at which ``neurons`` was anchored, or ``None`` (not yet: index order).
        rms: RMS of the (window-averaged) profile over present cells: the tracked colour unit.
        points: ``[G, 2]`` aligned 2-D coordinates of the groups (NaN rows: absent), or ``None``.
        cluster_groups: This step's dendrogram order of the present groups, or ``None``.
        cluster_neurons: This step's dendrogram order of the neurons, or ``None``.
    """

    groups: np.ndarray
    neurons: np.ndarray
    anchor_step: int | None
    rms: float
    points: np.ndarray | None = None
    cluster_groups: np.ndarray | None = None
    cluster_neurons: np.ndarray | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays kept in :attr:`Profiles.orderings` and saved as ``<key>_<i>``."""
        arrays = {
            "tracked_groups": np.asarray(self.groups, dtype=np.int64),
            "tracked_neurons": np.asarray(self.neurons, dtype=np.int64),
            "tracked_anchor": np.array(-1 if self.anchor_step is None else self.anchor_step, dtype=np.int64),
        }
        for key, value in (
            ("groups_2d", self.points),
            ("cluster_groups", self.cluster_groups),
            ("cluster_neurons", self.cluster_neurons),
        ):
            if value is not None:
                arrays[key] = np.asarray(value)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], profile: np.ndarray) -> TrackedOrder:
        """Read :meth:`to_arrays` back (the RMS is recomputed from ``profile``)."""
        anchor = int(arrays["tracked_anchor"])
        return cls(
            np.asarray(arrays["tracked_groups"]),
            np.asarray(arrays["tracked_neurons"]),
            None if anchor < 0 else anchor,
            unit_rms(window_mean(profile))[1],
            arrays.get("groups_2d"),
            arrays.get("cluster_groups"),
            arrays.get("cluster_neurons"),
        )


class OrderTracker:
    """Tracked orderings, updated once per profiling (see the module's docstring).

    Args:
        embedding: 2-D view of the groups: ``"pca"`` or ``"tsne"``.
        permutations: Shuffled copies in the structure test (:func:`has_structure`).

    Attributes:
        state: Plain data for checkpoints: ``anchors`` (layer -> ``{"step", "neurons"}``),
            ``points`` (layer -> the last aligned 2-D coordinates, ``[[x, y], ...]``, NaN for
            absent groups) and ``reanchor`` (layers to anchor again at the next profiling).

    Raises:
        ValueError: for an unknown embedding.

    Example:
        ```python
        tracker = OrderTracker()
        for step, profiles in enumerate(profiles_per_step):
            orders = tracker.update(profiles, step)   # also sets profiles.orderings
            orders["model.conv5"].neurons               # the same array once anchored
        ```
    """

    def __init__(self, embedding: str = "pca", permutations: int = PERMUTATIONS) -> None:
        if embedding not in EMBEDDINGS:
            raise ValueError(f"`embedding` should be one of {list(EMBEDDINGS)}, got {embedding!r}")
        self.embedding = embedding
        self.permutations = permutations
        self.state: dict[str, Any] = {"anchors": {}, "points": {}, "reanchor": []}

    def load(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's :attr:`state` (the same dict object is kept and updated)."""
        for key, empty in (("anchors", {}), ("points", {}), ("reanchor", [])):
            state.setdefault(key, empty)
        self.state = state

    def reanchor(self, layers: Sequence[str] | None = None) -> None:
        """Anchor the neurons of ``layers`` (default: all) again at the next profiling with structure."""
        self.state["reanchor"] = ["*"] if layers is None else sorted(set(self.state["reanchor"]) | set(layers))

    def update(
        self, profiles: Profiles, step: int, analysis: ProfileAnalysis | None = None, anchor: bool = True
    ) -> dict[str, TrackedOrder]:
        """The orderings of every layer at ``step``; also stored in ``profiles.orderings``.

        ``analysis`` (of the same profiles) supplies the step's clustered orders; without it
        they are computed here. ``anchor=False`` (the untrained-network profiling) never anchors a
        layer's columns: an anchor is taken from what the network has learned.
        """
        groups = category_order(profiles.num_groups, profiles.group_categories)
        if "*" in self.state["reanchor"]:
            self.state["reanchor"] = [name for name in self.state["reanchor"] if name != "*"] + list(profiles.layers)
        orders = {}
        for layer, result in profiles.layers.items():
            profile = result.profile
            neurons, anchor_step = self._neurons(layer, profile, groups, step, anchor)
            points = self._points(layer, profile)
            if analysis is not None and layer in analysis.layers:
                cluster_groups, cluster_neurons = (
                    analysis.layers[layer].group_order,
                    analysis.layers[layer].neuron_order,
                )
            else:
                cluster_groups, cluster_neurons = clustered_order(profile)
            rms = unit_rms(window_mean(profile))[1]
            orders[layer] = TrackedOrder(groups, neurons, anchor_step, rms, points, cluster_groups, cluster_neurons)
        profiles.orderings = {layer: order.to_arrays() for layer, order in orders.items()}
        return orders

    def _neurons(
        self, layer: str, profile: np.ndarray, groups: np.ndarray, step: int, may_anchor: bool = True
    ) -> tuple[np.ndarray, int | None]:
        anchor = self.state["anchors"].get(layer)
        width = profile.shape[1]
        requested = layer in self.state["reanchor"]
        if anchor is not None and len(anchor["neurons"]) != width:
            anchor = None  # another layer under the same name (e.g. a resumed run of a changed model)
        if may_anchor and (anchor is None or requested) and has_structure(profile, self.permutations):
            anchor = {"step": int(step), "neurons": [int(n) for n in preferred_neuron_order(profile, groups)]}
            self.state["anchors"][layer] = anchor
            self.state["reanchor"] = [name for name in self.state["reanchor"] if name != layer]
        if anchor is None:
            return np.arange(width), None
        return np.asarray(anchor["neurons"], dtype=int), int(anchor["step"])

    def _points(self, layer: str, profile: np.ndarray) -> np.ndarray:
        previous = self.state["points"].get(layer)
        points = aligned_embedding(
            profile, None if previous is None else np.asarray(previous, dtype=float), self.embedding
        )
        self.state["points"][layer] = points.tolist()
        return points


def track_orderings(
    profiles_list: Sequence[Profiles],
    steps: Sequence[int] | None = None,
    embedding: str = "pca",
    permutations: int = PERMUTATIONS,
) -> list[dict[str, TrackedOrder]]:
    """Offline: the orderings of a run's profiles in step order, as :class:`OrderTracker` made
    them during training (e.g. from the saved ``.npz`` files). ``steps`` default to 0, 1, ...;
    each ``profiles.orderings`` is set too."""
    steps = list(range(len(profiles_list))) if steps is None else list(steps)
    if len(steps) != len(profiles_list):
        raise ValueError(f"{len(steps)} steps for {len(profiles_list)} profiles: give one step per profiles")
    tracker = OrderTracker(embedding, permutations)
    return [tracker.update(profiles, step) for profiles, step in zip(profiles_list, steps, strict=True)]
