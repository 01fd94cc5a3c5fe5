"""The data of the emergence maps and the custom-scalars layout (docs/METHOD.md §2): each layer's scores
over the profiling steps, as a ``[layers, steps]`` matrix per metric.

An emergence map answers "which layer learns the categories, and when" at a glance: layers in
network order (rows) by profiling steps (columns), coloured by one score. Its values are the
logged scalars (``<tag>/<metric>/NN_<layer>``). Pure data; the figure is
:func:`lightning_gradnap.figures.tracked.emergence_figure`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis
from lightning_gradnap.analysis.score_keys import FAITHFULNESS, score_key

__all__ = ["METRICS", "Scores", "emergence_matrix", "scalars_layout"]

#: Per-layer scores kept for every profiling: the emergence maps and the custom-scalars charts.
METRICS = ("silhouette", "neighbour", "rsa", "ami", "reliability", "stability")


@dataclass
class Scores:
    """Each layer's scores over the profiling steps, as
    :class:`~lightning_gradnap.callback.history.ProfileHistory` keeps them.

    Attributes:
        steps: The profiling steps.
        metrics: ``"<layer>/<metric>"`` -> one value per step (the last steps, if fewer values).
    """

    steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def with_step(cls, history: dict[str, Any], step: int, analysis: ProfileAnalysis, metrics: Sequence[str]) -> Scores:
        """A history's scores (its ``steps`` and ``metrics``) with one more profiling's appended."""
        scores = cls(
            list(history.get("steps", [])) + [step], {k: list(v) for k, v in history.get("metrics", {}).items()}
        )
        for layer, result in analysis.layers.items():
            for metric in metrics:
                scores.metrics.setdefault(f"{layer}/{metric}", []).append(result.metric(metric))
        return scores


def emergence_matrix(scores: Scores, layers: Sequence[str], metric: str) -> np.ndarray:
    """``[L, S]``: ``metric`` of each layer (rows, in ``layers`` order) at each step; NaN where none."""
    matrix = np.full((len(layers), len(scores.steps)), np.nan)
    for row, layer in enumerate(layers):
        values = scores.metrics.get(f"{layer}/{metric}", [])[-len(scores.steps) :] if scores.steps else []
        if values:
            matrix[row, len(scores.steps) - len(values) :] = values
    return matrix


def scalars_layout(metrics: Sequence[str], tag: str = "gradnap", faithfulness: bool = False) -> dict[str, Any]:
    """Custom-scalars layout (``SummaryWriter.add_custom_scalars``): one multi-line chart per
    metric, a line per layer (the tags ``<tag>/<metric>/NN_<layer>``), and for a score with a
    chance level its 95th percentile, the input's score and the layer's score at initialisation as lines
    of their own (``_chance_p95``, ``_input``, ``_init``), so that a layer can be read above chance, above
    its input and above what its architecture alone gives; with ``faithfulness``, a chart of the causal
    check's scores (GradNAP's and NAP's lines, each layer's, to be read against 1)."""
    charts = {}
    for metric in metrics:
        against = [f"{tag}/{score_key(metric, kind)}/" for kind in ("chance_p95", "input", "init")]
        charts[metric] = ["Multiline", [re.escape(prefix) + ".*" for prefix in (f"{tag}/{metric}/", *against)]]
    if faithfulness:
        charts["faithfulness"] = ["Multiline", [re.escape(f"{tag}/{key}/") + ".*" for key in FAITHFULNESS.values()]]
    return {tag: charts}
