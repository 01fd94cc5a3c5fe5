"""The run's record of profilings: steps, epochs, files and each layer's scores, kept in checkpoints.

A resumed run continues it: a step already profiled is not profiled again, and the last saved
profiles are read back for the next comparison with the previous profiling.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.analysis import ProfileAnalysis
from lightning_gradnap.emergence import Scores
from lightning_gradnap.profiles import Profiles
from lightning_gradnap.tracking import OrderTracker

__all__ = ["METRICS", "ProfileHistory"]

#: Per-layer scores kept for every profiling.
METRICS = ("silhouette", "ami", "drift")


class ProfileHistory:
    """Steps, epochs, files and per-layer scores of every profiling so far.

    Attributes:
        state: Plain data for checkpoints: ``steps``, ``epochs``, ``files`` (``""`` where no file
            was written) and ``metrics`` (``"<layer>/<metric>"`` -> values); ``tracking``: the
            state of :attr:`tracker`.
        previous: The last profiles, for comparisons with the previous profiling.
        tracker: The tracked views' orders (:class:`~lightning_gradnap.tracking.OrderTracker`).
    """

    def __init__(self, embedding: str = "pca") -> None:
        self.state: dict[str, Any] = {"steps": [], "epochs": [], "files": [], "metrics": {}}
        self.previous: Profiles | None = None
        self.tracker = OrderTracker(embedding)
        self.state["tracking"] = self.tracker.state

    def has_step(self, step: int) -> bool:
        return step in self.state["steps"]

    def add(self, step: int, epoch: int, path: Path | None = None, profiles: Profiles | None = None,
            analysis: ProfileAnalysis | None = None) -> None:  # fmt: skip
        """Record one profiling (``profiles`` and ``analysis`` where this process made them)."""
        self.state["steps"].append(step)
        self.state["epochs"].append(epoch)
        self.state["files"].append(str(path) if path else "")
        if profiles is not None:
            self.previous = profiles
        if analysis is not None:
            for layer, result in analysis.layers.items():
                for metric in METRICS:
                    self.state["metrics"].setdefault(f"{layer}/{metric}", []).append(float(getattr(result, metric)))

    def track(self, profiles: Profiles, step: int, analysis: ProfileAnalysis) -> Scores:
        """Before :meth:`add`: the tracked orders into ``profiles.orderings``; the scores with this step's."""
        self.tracker.update(profiles, step, analysis)
        return Scores.with_step(self.state, step, analysis, METRICS)

    def load(self, state: dict[str, Any]) -> None:
        """Continue a checkpoint's history; read its last profiles back if the file is still there."""
        self.state = state
        self.tracker.load(state.setdefault("tracking", {}))
        last = next((f for f in reversed(state["files"]) if f), None)
        if last and Path(last).exists():
            try:
                self.previous = Profiles.load(last)
            except ValueError as error:
                warnings.warn(f"GradNAPCallback: cannot read the last profiles for the drift: {error}", stacklevel=2)

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """History of each ``<layer>/<metric>`` over the profiling steps."""
        return {name: np.asarray(values) for name, values in self.state["metrics"].items()}
