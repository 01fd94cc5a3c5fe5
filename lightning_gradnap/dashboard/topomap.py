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
    "This run has no topographic maps: the callback saves them with views=[..., 'topomap'] for the last "
    "topomap_layers layers (docs/topomaps.md)."
)
NOT_MAPPED = (
    "No map of this layer at this step: the callback maps the last topomap_layers profiled layers, at each "
    "profiling whose analysis succeeded (docs/topomaps.md)."
)
REPEAT = "A validate() repeat keeps no layout of its own: pick a profiling of fit to see the maps."


def topomap(dashboard: Dashboard, run: str, method: str, layer: str, step: int, repeat: str = "") -> dict[str, Any]:
    """``{"positions": [[x, y]] per neuron | None, "anchor": step | None, "size": S, "neurons": [S*S*3],
    "weights": [S*S*3], "note": str, "absent": bool}``: pixel ``p`` (row by row, row = y) of a group's map is
    ``sum_k values[neurons[3p + k]] * weights[3p + k]``. The layout is saved with the file's first method (the
    callback's default ``method``); another method's maps are painted in it (the same neurons). ``absent``: the
    run has no maps at all (the view was off), so the panel is not shown."""
    file = dashboard.file_at(run, method, layer, step, repeat)
    header = dashboard.header(file)
    own = dashboard.methods(header)[0]
    source = method if dashboard.key(header, method, "topomap_xy", layer) in header.keys else own
    key = dashboard.key(header, source, "topomap_xy", layer)
    if key not in header.keys:
        absent = not any(_has_maps(dashboard.header(f).keys) for f in dashboard.files(run))
        note = NO_MAP if absent else REPEAT if repeat else NOT_MAPPED
        return dict(positions=None, anchor=None, size=GRID, neurons=[], weights=[], note=note, absent=absent)
    anchor_key = dashboard.key(header, source, "topomap_anchor", layer)
    anchor = int(dashboard.cache.array(file.path, anchor_key)) if anchor_key in header.keys else -1

    def compute() -> dict[str, Any]:
        positions = np.asarray(dashboard.cache.array(file.path, key), dtype=float)
        neurons, weights = grid_weights(positions, GRID)
        return {
            "positions": np.round(positions, 5).tolist(),
            "neurons": neurons.ravel().tolist(),
            "weights": np.round(weights.ravel(), 5).tolist(),
        }

    layout = dashboard.cache.get(file.path, f"topomap:{source}:{layer}", compute)
    held = (
        f"layout held from step {anchor}"
        if anchor >= 0
        else f"layout of step {file.step} (no structure to anchor on yet: it moves until then)"
    )
    if source != method:
        held += f", made from the {source} profile"
    return {**layout, "anchor": anchor if anchor >= 0 else None, "size": GRID, "note": held, "absent": False}


def _has_maps(keys: Any) -> bool:
    return any(key.startswith("topomap_xy_") for key in keys)
