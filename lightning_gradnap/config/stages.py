"""The options of the stages after the engine: the analysis, the views, and the callback's causal check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lightning_gradnap.config.choices import (
    DEFAULT_VIEWS,
    EMBEDDINGS,
    SCALES,
    VIEWS,
    Clustering,
    Embedding,
    Scale,
    check_choice,
    check_clustering,
)


@dataclass(frozen=True)
class AnalysisOptions:
    """How profiles are normalised and clustered (see :func:`~lightning_gradnap.analyze`).

    Attributes:
        num_clusters: Flat clusters of groups (for AMI and the layer agreement); at least 2.
        clustering: ``"hierarchical"`` (a cut of the average-linkage tree, cosine distance) or ``"kmeans"``.
        weight_by_count: Centre the profiles on the count-weighted mean of the groups (default: unweighted).
        scale: ``None``, or ``"std"``: also divide each neuron by its standard deviation over groups.

    Raises:
        ValueError: for an unknown clustering or scale, or fewer than 2 clusters.
    """

    num_clusters: int = 6
    clustering: Clustering = "hierarchical"
    weight_by_count: bool = False
    scale: Scale | None = None

    def __post_init__(self) -> None:
        check_clustering(self.num_clusters, self.clustering)
        check_choice("scale", self.scale, SCALES)


@dataclass(frozen=True)
class ViewOptions:
    """What each profiling logs to TensorBoard, and how.

    Attributes:
        views: What to log, from :data:`VIEWS` (``None``: :data:`DEFAULT_VIEWS`, all but
            ``profile_clustered`` and ``topomap``): ``profile`` (the heatmaps in the order tracked over the run),
            ``profile_clustered`` (in each step's own clustered order), ``profile_replay`` (every
            step again under the final order, at the end of ``fit``), ``dendrogram``, ``groups_2d``,
            ``agreement`` (of the layers' clusterings), ``features`` (input-domain views),
            ``scalars``, ``projector``, ``emergence``, ``topomap`` (topographic maps of the upper layers,
            their scores, and their replay at the end of ``fit``: docs/topomaps.md), ``errors`` (the right and
            wrong profiles of the most confused groups, with ``split_by_correctness``). Kept as a tuple.
        embedding: 2-D view of the groups: ``"pca"`` or ``"tsne"``.
        feature_window: Input frames of the feature view around each segment.
        feature_groups: Groups shown in the feature view.
        feature_batches: ``None`` (the default): every profiled batch feeds the feature view, so it and
            the input baseline (``_input`` scores) come from the same data as the layers' scores, on
            any number of processes. A number: only each process's first this many profiled batches
            (cheaper; the view then depends on the number of processes).
        background_figures: Draw the figures in a worker thread while training goes on (done when
            ``fit`` returns).
        topomap_layers: With the ``topomap`` view: the last this many profiled layers get maps (the
            upper ones, where the groups' regions form; each map costs a layout and a figure per
            profiling); ``None``: every layer.

    Raises:
        ValueError: for an unknown view or embedding, or a window or count below 1 (0 batches allowed).
    """

    views: Sequence[str] | None = None
    embedding: Embedding = "pca"
    feature_window: int = 31
    feature_groups: int = 6
    feature_batches: int | None = None
    background_figures: bool = True
    topomap_layers: int | None = 2

    def __post_init__(self) -> None:
        views = DEFAULT_VIEWS if self.views is None else tuple(self.views)
        unknown = sorted(set(views) - set(VIEWS))
        if unknown:
            raise ValueError(f"`views` has {unknown}; allowed: {list(VIEWS)}")
        object.__setattr__(self, "views", views)
        check_choice("embedding", self.embedding, EMBEDDINGS)
        for name in ("feature_window", "feature_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` should be at least 1, got {getattr(self, name)}")
        if self.feature_batches is not None and self.feature_batches < 0:
            raise ValueError(f"`feature_batches` should be at least 0, got {self.feature_batches}")
        if self.topomap_layers is not None and self.topomap_layers < 1:
            raise ValueError(f"`topomap_layers` should be at least 1 (or None: every layer), got {self.topomap_layers}")


@dataclass(frozen=True)
class FaithfulnessOptions:
    """The opt-in causal check of the profiles (docs/faithfulness.md), as the callback's ``faithfulness_*``.

    Attributes:
        k: Neurons zeroed per group: its top ``k`` by each method's profile, and ``k`` random ones; ``None``: off.
        layers: The profiled layers to check (``None``: all). A list is kept as a tuple.
        batches: The first this many validation batches are forwarded again (the clean one and one per selection).
    """

    k: int | None = None
    layers: Sequence[str] | None = None
    batches: int = 2

    def __post_init__(self) -> None:
        for name, value in (("faithfulness_k", self.k), ("faithfulness_batches", self.batches)):
            if (value is not None or name.endswith("batches")) and (type(value) is not int or value < 1):
                raise ValueError(f"`{name}` should be a positive integer, got {value!r}")
        if self.layers is not None:
            if isinstance(self.layers, str) or not all(isinstance(n, str) for n in self.layers) or not self.layers:
                raise ValueError(
                    f"`faithfulness_layers` should be a list of profiled layers' names, got {self.layers!r}"
                )
            object.__setattr__(self, "layers", tuple(self.layers))
