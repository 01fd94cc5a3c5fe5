"""The dashboard's topographic maps: a layer's saved layout at a step, as the front end paints it.

The layout is the one the callback saved with the ``topomap`` view (``topomap_xy_<i>``, held from the
heatmap's anchor; ``topomap_anchor_<i>``), never computed here: a layer without one has no map. The
front end paints every group's map from the profile it already has (the ``matrix`` route), with the
pixel weights of :func:`~lightning_gradnap.analysis.topomap_scores.grid_weights`: the same
interpolation as the TensorBoard view and the scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_gradnap.analysis.topomap_scores import GRID, grid_weights

if TYPE_CHECKING:
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["topomap"]

NO_MAP = (
    "This layer has no topographic map at this step: the callback saves one with views=[..., 'topomap'] for the "
    "last topomap_layers layers (docs/topomaps.md)."
)


def topomap(dashboard: Dashboard, run: str, method: str, layer: str, step: int, repeat: str = "") -> dict[str, Any]:
    """``{"positions": [[x, y]] per neuron | None, "anchor": step | None, "size": S, "neurons": [S*S*3],
    "weights": [S*S*3], "note": str}``: pixel ``p`` (row by row, row = y) of a group's map is
    ``sum_k values[neurons[3p + k]] * weights[3p + k]``."""
    file = dashboard.file_at(run, method, layer, step, repeat)
    header = dashboard.header(file)
    key = dashboard.key(header, method, "topomap_xy", layer)
    if key not in header.keys:
        return {"positions": None, "anchor": None, "size": GRID, "neurons": [], "weights": [], "note": NO_MAP}
    anchor_key = dashboard.key(header, method, "topomap_anchor", layer)
    anchor = int(dashboard.cache.array(file.path, anchor_key)) if anchor_key in header.keys else -1

    def compute() -> dict[str, Any]:
        positions = np.asarray(dashboard.cache.array(file.path, key), dtype=float)
        neurons, weights = grid_weights(positions, GRID)
        return {
            "positions": np.round(positions, 5).tolist(),
            "neurons": neurons.ravel().tolist(),
            "weights": np.round(weights.ravel(), 5).tolist(),
        }

    layout = dashboard.cache.get(file.path, f"topomap:{method}:{layer}", compute)
    held = f"layout held from step {anchor}" if anchor >= 0 else f"layout of step {file.step} (not anchored yet)"
    return {**layout, "anchor": anchor if anchor >= 0 else None, "size": GRID, "note": held}
