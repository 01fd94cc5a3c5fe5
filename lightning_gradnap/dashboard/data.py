"""What the dashboard shows of a log directory: matrices, orderings, trees and scores.

This is the one place where the dashboard's orderings and scores come from, for the TensorBoard tab
and the offline report alike:

- **Saved first.** A file may carry its own orderings, ``tracked_groups_<i>`` /
  ``tracked_neurons_<i>`` (held still across the run) and ``cluster_groups_<i>`` /
  ``cluster_neurons_<i>`` (this step's clustering), and scores in its metadata
  (``{"scores": {layer: {name: value, "<name>_chance": value}}}``); they are used as they are.
- **Computed otherwise,** with :mod:`lightning_gradnap.analysis.profile_analysis`: group order, flat clusters,
  silhouette and AMI from :func:`~lightning_gradnap.analysis.profile_analysis.analyze`, the neuron order from
  :func:`~lightning_gradnap.analysis.profile_analysis.neuron_dendrogram_order` (as ``analyze`` orders them),
  the stability from :func:`~lightning_gradnap.analysis.profile_analysis.stability`.
- **Tracked across the run,** when no file carries a tracked ordering: the final step's
  clustering, applied to every step (the ANN-topomaps idea: lay out once, at the newest profiling).

A file is identified by its step and its repeat (``-validate-1``: ``validate()`` again at a step,
perhaps on other data). A repeat is shown as its own profiling; the final step's clustering and
the emergence maps (scores over the run, the stability against the previous step) come from the
files that ``fit`` wrote.

A second method in one file (NAP beside GradNAP, ``method=["gradnap", "nap"]``) is a layer named
``"<method>/<layer>"`` with its arrays under that layer's index (see
:meth:`~lightning_gradnap.Profiles.method`); metadata ``methods`` lists them, the first owning the
plain names (a file of one method says it in metadata ``method``, default ``"gradnap"``).
Time-resolved profiles ``[G, C, W]`` are shown as their mean over the window.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.cluster import hierarchy

from lightning_gradnap.analysis.profile_analysis import analyze, neuron_dendrogram_order
from lightning_gradnap.dashboard.cache import ArrayCache
from lightning_gradnap.dashboard.emergence import emergence
from lightning_gradnap.dashboard.files import ProfileFile, RunIndex
from lightning_gradnap.profiles.npz import Header, layer_key, stored_methods
from lightning_gradnap.profiles.result import LayerProfile, Profiles, window_mean

__all__ = ["DEFAULT_NUM_CLUSTERS", "ORDERINGS", "Dashboard"]

#: ``tracked`` across the run, this ``step``'s clustering, the ``final`` step's clustering.
ORDERINGS = ("tracked", "step", "final")
#: The callback's default number of flat clusters (for AMI).
DEFAULT_NUM_CLUSTERS = 6
#: Colour scale of a layer: this quantile of |profile|, the largest over the run's steps.
SCALE_QUANTILE = 0.99


class Dashboard:
    """The runs under one folder, read on demand (nothing is copied or written).

    Args:
        root: A log directory, or a folder of ``.npz`` files saved by hand.
        num_clusters: Flat clusters of groups for the AMI score.
        layers: Show only these layers (default: all).
        cache: Shared :class:`ArrayCache` (default: a new one of 1 GiB).
        recompute: Ignore orderings and scores saved in the files; compute them all.
        recheck_seconds: Longest time a run's listing is trusted (see :class:`RunIndex`).

    Raises:
        KeyError: (from the methods) for an unknown run, method, layer or step; the message lists
            the known ones.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        num_clusters: int = DEFAULT_NUM_CLUSTERS,
        layers: list[str] | None = None,
        cache: ArrayCache | None = None,
        recompute: bool = False,
        recheck_seconds: float = 1.0,
    ) -> None:
        self.root = Path(root)
        self.num_clusters = num_clusters
        self.layers = layers
        self.cache = cache or ArrayCache()
        self.recompute = recompute
        self.index = RunIndex(self.root, self.cache, recheck_seconds)

    # ------------------------------------------------------------------ runs and files
    def runs(self, fresh: bool = False) -> dict[str, Path]:
        """Run name -> folder (``fresh``: searched now; a training run adds runs and files)."""
        return self.index.runs(fresh)

    def files(self, run: str) -> list[ProfileFile]:
        return self.index.files(run)

    def header(self, file: ProfileFile) -> Header:
        return self.index.header(file)

    def methods(self, header: Header) -> list[str]:
        """The profile methods in a file, the one that owns the plain layer names first."""
        return stored_methods(header.metadata)

    def layer_names(self, header: Header) -> list[str]:
        others = tuple(f"{m}/" for m in self.methods(header)[1:])
        names = [name for name in header.layers if not (others and name.startswith(others))]
        return [name for name in names if self.layers is None or name in self.layers]

    def key(self, header: Header, method: str, base: str, layer: str) -> str:
        """The array key of ``base`` (``profile``, ``tracked_groups``, ...) for a method and layer."""
        own = self.methods(header)[0]
        return layer_key(base, header.layers.index(layer if method == own else f"{method}/{layer}"))

    def method_files(self, run: str, method: str, layer: str | None = None) -> list[ProfileFile]:
        """The run's files that hold ``method`` (and ``layer``), in step order."""
        files = []
        for file in self.files(run):
            header = self.header(file)
            if method in self.methods(header) and (layer is None or layer in self.layer_names(header)):
                files.append(file)
        if not files:
            raise KeyError(f"run {run!r} has no {method!r} profile" + (f" of layer {layer!r}" if layer else ""))
        return files

    def fit_files(self, run: str, method: str, layer: str | None = None) -> list[ProfileFile]:
        """:meth:`method_files` that ``fit`` wrote (all of them if ``validate()`` wrote every one)."""
        files = self.method_files(run, method, layer)
        return [file for file in files if file.of_fit] or files

    def file_at(self, run: str, method: str, layer: str, step: int, repeat: str = "") -> ProfileFile:
        """The run's file at ``step`` (and ``repeat``: ``"validate-1"``, ``""`` for the first at its step).

        Raises:
            KeyError: if there is none (lists the steps).
            MalformedFile: if that file was skipped as malformed or refused (names it).
        """
        files = self.method_files(run, method, layer)
        for file in files:
            if (file.step, file.repeat) == (step, repeat):
                return file
        for file, error in self.index.skipped(run):
            if (file.step, file.repeat) == (step, repeat):
                raise error
        steps = [f"{f.step}-{f.repeat}" if f.repeat else f.step for f in files]
        at = f"step {step}" + (f" (repeat {repeat!r})" if repeat else "")
        raise KeyError(f"run {run!r} has no {method!r} profile of {layer!r} at {at}; steps: {steps}")

    # ------------------------------------------------------------------ matrices
    def profile(self, file: ProfileFile, method: str, layer: str) -> np.ndarray:
        """The float64 profile ``[G, C]`` as saved (time-resolved ones: mean over the window)."""
        return window_mean(self.cache.array(file.path, self.key(self.header(file), method, "profile", layer)))

    def matrix(self, run: str, method: str, layer: str, step: int, repeat: str = "") -> np.ndarray:
        """``[G, C]`` float32 profile at ``step``, groups and neurons in the file's order (NaN = absent)."""
        file = self.file_at(run, method, layer, step, repeat)
        return self.cache.get(
            file.path, f"float32:{method}:{layer}", lambda: self.profile(file, method, layer).astype(np.float32)
        )

    def scale(self, run: str, method: str, layer: str) -> float:
        """Colour limit of a layer, held for the whole run: the largest per-step quantile of |P|."""
        limits = [self._file_scale(file, method, layer) for file in self.method_files(run, method, layer)]
        return max([limit for limit in limits if limit > 0], default=1.0)

    def _file_scale(self, file: ProfileFile, method: str, layer: str) -> float:
        def compute() -> float:
            values = np.abs(self.profile(file, method, layer))
            values = values[np.isfinite(values)]
            return float(np.quantile(values, SCALE_QUANTILE)) if values.size else 0.0

        return self.cache.get(file.path, f"scale:{method}:{layer}", compute)

    # ------------------------------------------------------------------ orderings
    def order(self, run: str, method: str, layer: str, step: int, kind: str, repeat: str = "") -> dict[str, Any]:
        """Row (group) and column (neuron) order of the heatmap, and where it came from (``final``: the last file
        that ``fit`` wrote, never a ``validate()`` repeat).

        Returns:
            ``{"groups": [G], "neurons": [C], "source": str}``; absent groups come last.
        """
        if kind not in ORDERINGS:
            raise KeyError(f"ordering should be one of {list(ORDERINGS)}, got {kind!r}")
        file = self.file_at(run, method, layer, step, repeat)
        final = self.fit_files(run, method, layer)[-1]
        note = ""
        if kind == "tracked":
            saved = self._saved_order(file, method, layer, "tracked")
            if saved is not None:
                return {**saved, "source": "tracked (saved)"}
            file, note = final, "; no file holds a tracked ordering: the final step's, for every step"
        elif kind == "final":
            file = final
        saved = self._saved_order(file, method, layer, "cluster")
        if saved is not None:
            return {**saved, "source": f"step {file.step}'s clustering (saved){note}"}
        groups = self.clustering(file, method, layer)["groups"]
        source = f"step {file.step}'s clustering (computed){note}"
        return {"groups": groups, "neurons": self.neuron_order(file, method, layer), "source": source}

    def _saved_order(self, file: ProfileFile, method: str, layer: str, which: str) -> dict[str, list[int]] | None:
        header = self.header(file)
        keys = [self.key(header, method, f"{which}_{axis}", layer) for axis in ("groups", "neurons")]
        if self.recompute or not all(key in header.keys for key in keys):
            return None
        groups, neurons = (self.cache.array(file.path, key).astype(int).tolist() for key in keys)
        return {"groups": _complete(groups, len(header.group_names)), "neurons": neurons}

    def neuron_order(self, file: ProfileFile, method: str, layer: str) -> list[int]:
        """Columns in dendrogram order, as :func:`analyze` orders them (cached per file)."""

        def compute() -> list[int]:
            profile = self.profile(file, method, layer)
            return neuron_dendrogram_order(profile[~np.isnan(profile).any(axis=1)]).tolist()

        return self.cache.get(file.path, f"neurons:{method}:{layer}", compute)

    def clustering(self, file: ProfileFile, method: str, layer: str) -> dict[str, Any]:
        """:func:`analyze` of one layer's groups: order, linkage, flat clusters, silhouette, AMI.

        The neurons are not clustered here (see :meth:`neuron_order`): the rows are first replaced
        by ``G`` coordinates with the same inner products (``V sqrt(L)`` of the eigendecomposition
        of their Gram matrix), hence the same cosine distances and scores to rounding, so that
        ``analyze`` has few columns to cluster: 1 ms instead of 200 at 2,000 neurons.
        """

        def compute() -> dict[str, Any]:
            header = self.header(file)
            profile = self.profile(file, method, layer)
            present = ~np.isnan(profile).any(axis=1)
            compact = np.full((len(profile), max(1, present.sum())), np.nan)
            if present.any():
                rows = profile[present]
                eigenvalues, vectors = np.linalg.eigh(rows @ rows.T)
                coordinates = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
                coordinates[~rows.any(axis=1)] = 0.0  # all-zero rows stay exactly zero (no direction)
                compact[present] = coordinates
            categories = header.group_categories if any(header.group_categories) else None
            single = Profiles(
                {layer: LayerProfile(compact, compact, present.astype(float))}, header.group_names, categories
            )
            result = analyze(single, self.num_clusters).layers[layer]
            return {
                "groups": _complete(result.group_order.tolist(), len(profile)),
                "linkage": result.linkage,
                "present": result.present,
                "silhouette": result.silhouette,
                "ami": result.ami,
            }

        return self.cache.get(file.path, f"clustering:{method}:{layer}:{self.num_clusters}", compute)

    def tree(self, run: str, method: str, layer: str, step: int, repeat: str = "") -> dict[str, Any]:
        """The dendrogram of the groups at ``step`` (scipy's drawing coordinates), leaves top-down."""
        file = self.file_at(run, method, layer, step, repeat)
        result = self.clustering(file, method, layer)
        if result["linkage"] is None:
            return {"icoord": [], "dcoord": [], "leaves": result["groups"][:1], "step": file.step}
        drawing = hierarchy.dendrogram(result["linkage"], no_plot=True)
        return {
            "icoord": np.round(drawing["icoord"], 3).tolist(),
            "dcoord": np.round(drawing["dcoord"], 6).tolist(),
            "leaves": result["present"][drawing["leaves"]].tolist(),
            "step": file.step,
        }

    # ------------------------------------------------------------------ scores over the run
    def emergence(self, run: str, method: str, progress: Callable[[], None] | None = None) -> dict[str, Any]:
        """Scores per layer and step: the emergence maps (:func:`lightning_gradnap.dashboard.emergence.emergence`)."""
        return emergence(self, run, method, progress)


def _complete(order: list[int], count: int) -> list[int]:
    """``order`` followed by the indices it leaves out (absent groups), so every row shows."""
    seen = set(order)
    return order + [index for index in range(count) if index not in seen]
