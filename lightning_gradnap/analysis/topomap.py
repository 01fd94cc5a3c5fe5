"""Topographic activation maps (Krug, Ratul, Stober, HHAI 2023): a layer's neurons laid out in 2-D.

Neurons with similar profiles become neighbours, so that each group's profile, painted over the
layout (:mod:`lightning_gradnap.analysis.topomap_scores`), shows which region of the layer answers
to it. No Trainer, no figures.

**Layout** (:func:`topomap_layout`), as in the authors' toolbox (``valeriekrug/ANN-topomaps``, their
default method): each neuron's feature vector is its column of the (window-averaged) profile over
the present groups; neurons are compared by cosine distance; a *threshold graph* links every pair
closer than a low percentile of the distances; networkx's Fruchterman-Reingold layout
(``spring_layout``, seeded: deterministic) places it. Chosen over scikit-learn's t-SNE or MDS because
it is the authors' default, it is fast for a few hundred neurons (no perplexity to tune, no
iterations to converge), and networkx is already installed with torch. One change: the authors link
each smaller component of the graph to the largest by its closest pair; here the edges of the
distances' minimum spanning tree (``scipy.sparse.csgraph``) are added, which connect each component
to its *nearest* one, so that two pieces of one region are joined to each other rather than each
to whatever region is largest (three clean regions of 20 neurons: mean distance within a region over
that between regions 0.53-0.61 against 0.65-0.73 for the authors' linking, seeds 0-2; four regions of
30: both 0.50-0.53). The *de-overlap* pass then
gives every neuron its own cell of a square lattice, the cells assigned to minimise the total
squared move (``scipy.optimize.linear_sum_assignment``): no two neurons share a place, the
neighbourhoods stay, and the lattice covers the map evenly, which the grid interpolation needs.

**Anchoring** (:class:`TopomapTracker`): a layer's layout is computed once, at the profiling where
its tracked heatmap anchors its neurons (the same rule: :func:`~lightning_gradnap.analysis.tracking.has_structure`,
and a re-anchor of the heatmap lays the map out again), and kept for the rest of the run, so that
the step slider shows the regions forming in one layout. Before that, each profiling gets a layout
of its own (marked as not anchored). The layouts are plain lists in :attr:`TopomapTracker.state`,
kept in checkpoints with the heatmap's anchors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from lightning_gradnap.profiles.result import window_mean

__all__ = [
    "EDGE_PERCENTILE",
    "TopomapLayout",
    "TopomapTracker",
    "lattice_positions",
    "neuron_distances",
    "threshold_graph",
    "topomap_layout",
    "topomap_layers",
]

#: Pairs of neurons closer than this percentile of all cosine distances are linked in the threshold graph.
EDGE_PERCENTILE = 5.0


def neuron_distances(profile: np.ndarray) -> np.ndarray:
    """``[C, C]`` cosine distances between the neurons' columns of the (window-averaged) profile over the
    present groups; a neuron that is zero over every group is at distance 1 (unrelated) from the others."""
    matrix = window_mean(profile)
    columns = matrix[np.isfinite(matrix).all(axis=1)].T
    if columns.shape[0] < 2:
        return np.zeros((columns.shape[0], columns.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = squareform(pdist(columns, "cosine"))
    distances[~np.isfinite(distances)] = 1.0
    np.fill_diagonal(distances, 0.0)
    return distances


def threshold_graph(distances: np.ndarray, percentile: float = EDGE_PERCENTILE) -> nx.Graph:
    """Neurons linked where their distance is at most ``percentile`` of the pairwise distances, plus the edges
    of the distances' minimum spanning tree, which connect the components by their closest pairs."""
    count = len(distances)
    upper = distances[np.triu_indices(count, 1)]
    threshold = np.percentile(upper, percentile) if upper.size else 0.0
    adjacency = (distances <= threshold) & ~np.eye(count, dtype=bool)
    if count > 1:  # csgraph reads a 0 as "no edge": lift every distance a little above it
        tree = minimum_spanning_tree(distances + 1e-9 * ~np.eye(count, dtype=bool)).toarray() > 0
        adjacency |= tree | tree.T
    return nx.from_numpy_array(adjacency.astype(float))


def lattice_positions(points: np.ndarray) -> np.ndarray:
    """De-overlap: each point moved to its own cell centre of a square lattice in ``[0, 1]^2`` (side
    ``ceil(sqrt(n))``), the cells assigned to minimise the total squared move; points first scaled to the square."""
    count = len(points)
    if count == 0:
        return np.zeros((0, 2))
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    scaled = (points - low) / np.where(span > 0, span, 1.0)
    side = int(np.ceil(np.sqrt(count)))
    centres = (np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="xy"), -1).reshape(-1, 2) + 0.5) / side
    cost = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    rows, cells = linear_sum_assignment(cost)
    placed = np.empty((count, 2))
    placed[rows] = centres[cells]
    return placed


def topomap_layout(profile: np.ndarray, percentile: float = EDGE_PERCENTILE, seed: int = 0) -> np.ndarray:
    """``[C, 2]`` positions in ``[0, 1]^2`` of a layer's neurons (see the module's docstring); deterministic."""
    distances = neuron_distances(profile)
    count = len(distances)
    if count < 3:
        return lattice_positions(np.column_stack([np.arange(count, dtype=float), np.zeros(count)]))
    positions = nx.spring_layout(threshold_graph(distances, percentile), seed=seed)
    return lattice_positions(np.array([positions[node] for node in range(count)]))


def topomap_layers(layers: Sequence[str], count: int | None) -> list[str]:
    """The layers that get maps: the last ``count`` (the upper ones; ``None``: all), in network order."""
    layers = list(layers)
    return layers if count is None else layers[max(0, len(layers) - count) :]


@dataclass
class TopomapLayout:
    """One layer's map layout at one profiling.

    Attributes:
        positions: ``[C, 2]`` neuron positions in ``[0, 1]^2``.
        anchor_step: The step it was computed at and held from, or ``None`` (this step's own layout,
            before the layer had structure).
    """

    positions: np.ndarray
    anchor_step: int | None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays kept in ``Profiles.orderings`` and saved as ``topomap_xy_<i>``, ``topomap_anchor_<i>``."""
        anchor = -1 if self.anchor_step is None else self.anchor_step
        return {"topomap_xy": np.asarray(self.positions, dtype=np.float64), "topomap_anchor": np.array(anchor)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> TopomapLayout | None:
        """Read :meth:`to_arrays` back (None where the arrays are absent)."""
        if "topomap_xy" not in arrays:
            return None
        anchor = int(arrays.get("topomap_anchor", -1))
        return cls(np.asarray(arrays["topomap_xy"], dtype=float), None if anchor < 0 else anchor)


class TopomapTracker:
    """Map layouts, each computed once per layer and held for the run (see the module's docstring).

    Attributes:
        state: Plain data for checkpoints: ``layouts`` (layer -> ``{"step", "positions": [[x, y], ...]}``).

    Example::

        orders = order_tracker.update(profiles, step)        # the heatmap's anchors
        layouts = tracker.update(profiles, step, orders, ["model.conv7"])
        layouts["model.conv7"].positions                       # the same array once anchored
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"layouts": {}}

    def load(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's :attr:`state` (the same dict object is kept and updated)."""
        state.setdefault("layouts", {})
        self.state = state

    def update(
        self, profiles: Any, step: int, anchor_steps: Mapping[str, int | None], layers: Sequence[str]
    ) -> dict[str, TopomapLayout]:
        """The layouts of ``layers`` at ``step``, also put into ``profiles.orderings``.

        Args:
            profiles: The step's :class:`~lightning_gradnap.profiles.result.Profiles`.
            anchor_steps: Each layer's heatmap anchor step (``TrackedOrder.anchor_step``; None: not anchored).
            layers: The layers that get maps.
        """
        layouts = {}
        for layer in layers:
            profile = profiles[layer].profile
            held = self.state["layouts"].get(layer)
            if held is not None and len(held["positions"]) != profile.shape[1]:
                held = None  # another layer under the same name (a resumed run of a changed model)
            anchor = anchor_steps.get(layer)
            if anchor is not None and (held is None or anchor == step):
                held = {"step": int(step), "positions": topomap_layout(profile).tolist()}
                self.state["layouts"][layer] = held
            if held is None:
                layouts[layer] = TopomapLayout(topomap_layout(profile), None)
            else:
                layouts[layer] = TopomapLayout(np.asarray(held["positions"], dtype=float), int(held["step"]))
            profiles.orderings.setdefault(layer, {}).update(layouts[layer].to_arrays())
        return layouts
