"""The dashboard's emergence maps: each layer's scores over the steps of a run (saved ones, else computed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_gradnap.analysis.profile_analysis import stability
from lightning_gradnap.analysis.score_keys import split_score_key
from lightning_gradnap.dashboard.files import ProfileFile

if TYPE_CHECKING:
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["emergence", "union"]


def emergence(
    dashboard: Dashboard, run: str, method: str, progress: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Scores per layer and step (saved ones, else computed): the emergence maps, of the files ``fit`` wrote
    (one column per step; a ``validate()`` repeat on other data is no step of the run).

    Returns:
        ``{"layers", "steps", "scores": {name: [[value | None per step] per layer]},
        "chance": {name: [[...]]}, "init": {name: [[...]]} (the layer's score at the run's untrained-network
        profiling, where the files carry it), "computed": [names computed here]}``.
    """
    files = dashboard.fit_files(run, method)
    layers = union(dashboard.layer_names(dashboard.header(file)) for file in files)
    scores: dict[str, list[list[float | None]]] = {}
    computed: set[str] = set()
    for column, file in enumerate(files):
        header = dashboard.header(file)
        for row, layer in enumerate(layers):
            if layer in dashboard.layer_names(header):
                values, fresh = _scores(dashboard, files, column, method, layer)
                computed |= fresh
                for name, value in values.items():
                    table = scores.setdefault(name, [[None] * len(files) for _ in layers])
                    table[row][column] = value if value is not None and np.isfinite(value) else None
            if progress is not None:
                progress()
    for name in [n for n in scores if split_score_key(n)[1] not in ("", "chance", "init")]:
        scores.pop(name)  # read against in TensorBoard's scalars; the map shows each score, its chance and init
    against = {
        kind: {split_score_key(n)[0]: scores.pop(n) for n in list(scores) if split_score_key(n)[1] == kind}
        for kind in ("chance", "init")
    }
    return {
        "layers": layers,
        "steps": [f.step for f in files],
        "scores": scores,
        **against,
        "computed": sorted(computed),
    }


def _scores(
    dashboard: Dashboard, files: list[ProfileFile], column: int, method: str, layer: str
) -> tuple[dict[str, float], set[str]]:
    file = files[column]
    saved = {} if dashboard.recompute else dashboard.header(file).metadata.get("scores", {})
    saved = saved.get(method, saved).get(layer, {}) if isinstance(saved, dict) else {}
    values = {name: float(value) for name, value in saved.items() if isinstance(value, (int, float))}
    computed: dict[str, float] = {}
    if "silhouette" not in values or "ami" not in values:
        result = dashboard.clustering(file, method, layer)
        computed.update(silhouette=result["silhouette"], ami=result["ami"])
    previous = next((f for f in reversed(files[:column]) if layer in dashboard.layer_names(dashboard.header(f))), None)
    if "stability" not in values and previous is not None:
        computed["stability"] = stability(
            dashboard.profile(previous, method, layer), dashboard.profile(file, method, layer)
        )
    fresh = {name for name in computed if name not in values}
    return {**computed, **values}, fresh


def union(lists: Any) -> list[str]:
    """The names of every list, each once, in the order they first come."""
    names: list[str] = []
    for items in lists:
        names += [name for name in items if name not in names]
    return names
