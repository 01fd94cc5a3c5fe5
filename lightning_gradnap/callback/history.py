"""The run's record of profilings: steps, epochs, files and each layer's scores, kept in checkpoints.

A resumed run continues it: a step already profiled is not profiled again, and the last saved
profiles are read back for the next comparison with the previous profiling. A run resumed with
another list of layers keeps the history of the layers it still profiles (:meth:`keep_layers`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lightning_gradnap.analysis.emergence import METRICS, Scores
from lightning_gradnap.analysis.profile_analysis import ProfileAnalysis
from lightning_gradnap.analysis.topomap import TopomapTracker, topomap_layers
from lightning_gradnap.analysis.topomap_scores import painter, topomap_scores
from lightning_gradnap.analysis.tracking import OrderTracker
from lightning_gradnap.config import ViewOptions
from lightning_gradnap.profiles.result import Profiles

__all__ = ["ProfileHistory"]


class ProfileHistory:
    """Steps, epochs, files and per-layer scores of every profiling so far.

    Attributes:
        state: Plain data for checkpoints: ``steps``, ``epochs``, ``files`` (``""`` where no file
            was written) and ``metrics`` (``"<layer>/<metric>"`` -> one value per step; NaN for
            the steps before a layer was first profiled); ``tracking``: the state of :attr:`tracker`;
            ``init`` (once profiled): the step and the scores of the untrained-network profiling
            (``{"step": s, "scores": method -> layer -> score -> value}``), what every later
            profiling's ``_init`` scores are.
            ``topomap``: the state of :attr:`topomaps`.
        previous: The last profiles, for comparisons with the previous profiling.
        tracker: The tracked views' orders (:class:`~lightning_gradnap.analysis.tracking.OrderTracker`).
        topomaps: The topographic maps' layouts (:class:`~lightning_gradnap.analysis.topomap.TopomapTracker`),
            held from the tracked heatmap's anchor, for the last ``topomap_layers`` layers (0: none; None: all).
    """

    def __init__(self, embedding: str = "pca", topomap_layers: int | None = 0) -> None:
        self.state: dict[str, Any] = {"steps": [], "epochs": [], "files": [], "metrics": {}}
        self.root: Path | None = None  # the run's log directory: a moved run's files are found in it by name
        self.previous: Profiles | None = None
        self._warned: set[str] = set()  # layers already warned about for low reliability
        self.tracker = OrderTracker(embedding)
        self.state["tracking"] = self.tracker.state
        self.topomap_layers = topomap_layers
        self.topomaps = TopomapTracker()
        self.state["topomap"] = self.topomaps.state
        self._painters: dict[str, tuple[bytes, Any]] = {}  # each layer's map painter while its layout holds

    @classmethod
    def of(cls, options: ViewOptions) -> ProfileHistory:
        """The history for these views: their embedding, and maps for ``topomap_layers`` with the ``topomap`` view."""
        return cls(options.embedding, options.topomap_layers if "topomap" in (options.views or ()) else 0)

    def has_step(self, step: int) -> bool:
        return step in self.state["steps"]

    @property
    def init_scores(self) -> dict[str, Any] | None:
        """The untrained-network profiling's scores (method -> layer -> score -> value), or None before it."""
        init = self.state.get("init")
        return None if init is None else init["scores"]

    def set_init(self, step: int, scores: dict[str, Any]) -> None:
        """Record the untrained-network profiling (made at ``step``, the start of ``fit``)."""
        self.state["init"] = {"step": step, "scores": scores}

    def add(
        self,
        step: int,
        epoch: int,
        path: Path | None = None,
        profiles: Profiles | None = None,
        analysis: ProfileAnalysis | None = None,
    ) -> None:
        """Record one profiling (``profiles`` and ``analysis`` where this process made them)."""
        self.state["steps"].append(step)
        self.state["epochs"].append(epoch)
        self.state["files"].append(str(path) if path else "")
        if profiles is not None:
            self.previous = profiles
        if analysis is None:  # no scores at this step (another rank's, or a failed analysis): NaN where kept
            for values in self.state["metrics"].values():
                values.append(float("nan"))
        else:
            for layer, result in analysis.layers.items():
                for metric in METRICS:
                    earlier = [float("nan")] * (len(self.state["steps"]) - 1)  # a layer added on resume
                    self.state["metrics"].setdefault(f"{layer}/{metric}", earlier).append(result.metric(metric))

    def track(self, profiles: Profiles, step: int, analysis: ProfileAnalysis, anchor: bool = True) -> Scores:
        """Before :meth:`add`: the tracked orders (and map layouts) into ``profiles.orderings`` (``anchor``: as
        :meth:`OrderTracker.update`), the maps' scores into ``analysis``; the scores with this step's."""
        orders = self.tracker.update(profiles, step, analysis, anchor)
        if self.topomap_layers != 0:
            anchors = {layer: order.anchor_step for layer, order in orders.items()}
            mapped = topomap_layers(list(profiles.layers), self.topomap_layers)
            for layer, layout in self.topomaps.update(profiles, step, anchors, mapped).items():
                key = layout.positions.tobytes()
                if self._painters.get(layer, (None,))[0] != key:
                    self._painters[layer] = (key, painter(layout.positions))
                if layer in analysis.layers:
                    paint = self._painters[layer][1]
                    analysis.layers[layer].topomap = topomap_scores(
                        profiles[layer].profile, layout.positions, paint=paint
                    )
        return Scores.with_step(self.state, step, analysis, METRICS)

    def load(self, state: dict[str, Any]) -> None:
        """Continue a checkpoint's history; read its last profiles back if the file is still there."""
        # "drift" was the name of the stability (a similarity) before 0.2: rename it in old checkpoints
        metrics = state.get("metrics", {})
        state["metrics"] = {
            key[: -len("drift")] + "stability" if key.endswith("/drift") else key: v for key, v in metrics.items()
        }
        self.state = state
        self.tracker.load(state.setdefault("tracking", {}))
        self.topomaps.load(state.setdefault("topomap", {}))
        self._read_previous()

    def set_root(self, root: Path) -> None:
        """The run's log directory (at setup): where a moved run's files are looked for by name."""
        self.root = root
        if self.previous is None:
            self._read_previous()

    def _read_previous(self) -> None:
        last = next((f for f in reversed(self.files()) if f), None)
        if last and Path(last).exists():
            try:
                self.previous = Profiles.load(last)
            except ValueError as error:
                warnings.warn(
                    f"GradNAPCallback: cannot read the last profiles for the stability: {error}", stacklevel=2
                )

    def files(self) -> list[str]:
        """Each profiling's file where it is now (``""`` where none was written): where it was written, or, if the
        run folder moved since, the file of that name in :attr:`root`'s ``profiles/``."""
        return [self._resolve(name) if name else "" for name in self.state["files"]]

    def resolved(self) -> dict[str, Any]:
        """:attr:`state` with :meth:`files` in place of the names kept (for the replay)."""
        return {**self.state, "files": self.files()}

    def _resolve(self, name: str) -> str:
        path = Path(name)
        if self.root is None or path.exists():
            return name
        moved = self.root / "profiles" / path.name
        return str(moved) if moved.exists() else name

    def check_reliability(self, analysis: ProfileAnalysis, threshold: float) -> str | None:
        """A warning, once per layer, for layers whose split-half reliability is below ``threshold``."""
        low = {name: r.reliability for name, r in analysis.layers.items() if r.reliability < threshold}
        new = {name: value for name, value in low.items() if name not in self._warned}
        self._warned.update(new)
        if not new:
            return None
        listed = ", ".join(f"{name} {value:.2f}" for name, value in new.items())
        return (
            f"GradNAPCallback: the profiles of {listed} have a split-half reliability below {threshold} (how well "
            "two halves of the profiled data agree): they rest on too little data to compare between steps. "
            "Raise `max_batches` (or profile fewer, larger groups)."
        )

    def keep_layers(self, layers: list[str]) -> str | None:
        """Keep the metrics of ``layers`` only; say in words what changed (None if nothing did)."""
        recorded = list(dict.fromkeys(name.rsplit("/", 1)[0] for name in self.state["metrics"]))
        dropped = [layer for layer in recorded if layer not in layers]
        added = [layer for layer in layers if recorded and layer not in recorded]
        self.state["metrics"] = {
            name: values for name, values in self.state["metrics"].items() if name.rsplit("/", 1)[0] in layers
        }
        if not dropped and not added:
            return None
        return (
            "GradNAPCallback: the profiled layers differ from those of the checkpoint's history. Dropped the "
            f"history of {dropped or 'no layer'} (no longer profiled); history starts now for {added or 'no layer'} "
            "(NaN for the earlier steps)."
        )

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """History of each ``<layer>/<metric>`` over the profiling steps."""
        return {name: np.asarray(values) for name, values in self.state["metrics"].items()}
