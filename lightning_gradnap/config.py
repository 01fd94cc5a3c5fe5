"""The options of one profiling, as dataclasses with their allowed values and checks.

Each option is documented here, once. The boundaries take them as flat, typed arguments and build
these objects: :class:`~lightning_gradnap.GradNAPCallback` (whose ``Literal`` types LightningCLI
reads) and :func:`~lightning_gradnap.compute_profiles`; inside, the engine takes
:class:`EngineOptions`, the analysis :class:`AnalysisOptions` and the views :class:`ViewOptions`.
An option out of its range fails when the object is made, with a ``ValueError`` that names the
option and what it allows. Callback arguments given as text in YAML (a function named by its
dotted path) are resolved by :func:`resolve_callable`. This module imports nothing else of the
package, so every stage may import it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

__all__ = [
    "CLUSTERINGS",
    "DEFAULT_VIEWS",
    "EMBEDDINGS",
    "LABEL_LEVELS",
    "METHODS",
    "OBJECTIVE_NAMES",
    "SCALES",
    "VIEWS",
    "WINDOW_CENTRES",
    "BLANK_FRAMES",
    "AnalysisOptions",
    "BlankFrames",
    "Clustering",
    "Embedding",
    "EngineOptions",
    "FaithfulnessOptions",
    "LabelLevel",
    "Method",
    "Objective",
    "Scale",
    "ViewOptions",
    "WindowCenter",
    "as_plain_dict",
    "check_clustering",
    "resolve_callable",
]

Method = Literal["gradnap", "nap"]
Objective = Literal["predicted_logit", "predicted_logprob", "target_logprob", "ctc"]
LabelLevel = Literal["frame", "utterance"]
WindowCenter = Literal["segment", "salient"]
Clustering = Literal["hierarchical", "kmeans"]
Scale = Literal["std"]
Embedding = Literal["pca", "tsne"]
BlankFrames = Literal["segment", "wrong", "ignore"]

METHODS: tuple[str, ...] = get_args(Method)
OBJECTIVE_NAMES: tuple[str, ...] = get_args(Objective)
LABEL_LEVELS: tuple[str, ...] = get_args(LabelLevel)
WINDOW_CENTRES: tuple[str, ...] = get_args(WindowCenter)
CLUSTERINGS: tuple[str, ...] = get_args(Clustering)
SCALES: tuple[str | None, ...] = (None, *get_args(Scale))
EMBEDDINGS: tuple[str, ...] = get_args(Embedding)
BLANK_FRAMES: tuple[str, ...] = get_args(BlankFrames)
#: What can be logged; ``views`` picks from these.
VIEWS = (
    "profile",
    "profile_clustered",
    "profile_replay",
    "dendrogram",
    "groups_2d",
    "agreement",
    "features",
    "scalars",
    "projector",
    "emergence",
    "topomap",
    "errors",
)
DEFAULT_VIEWS = tuple(view for view in VIEWS if view not in ("profile_clustered", "topomap"))


def _check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` should be one of {list(allowed)}, got {value!r}")


def _check_frames(name: str, value: int | None, label_level: str) -> None:
    if value is not None and (value < 1 or label_level != "frame"):
        raise ValueError(f"`{name}` must be a positive number of frames, with label_level='frame'")


@dataclass(frozen=True)
class EngineOptions:
    """How each batch becomes relevance and group sums (:class:`~lightning_gradnap.ProfileEngine`).

    Attributes:
        method: ``"gradnap"`` (relevance ``a * dy/da``), ``"nap"`` (relevance ``a``), or both
            (``["gradnap", "nap"]``: one forward and backward give both; the first is the default
            of results). A list is kept as a tuple.
        objective: The scalar ``y`` whose gradient GradNAPs use: ``"predicted_logit"`` (the score of
            the predicted class at each valid frame), ``"predicted_logprob"``, ``"target_logprob"``
            (needs ``targets``), ``"ctc"`` (the negative CTC loss; needs ``targets`` and
            ``target_lengths``), or a callable ``(scores [B, K, T], ObjectiveInputs) -> scalar``.
        absolute: Profile ``|a * g|`` (``|a|`` for NAPs).
        label_level: ``"frame"`` (labels ``[B, T]``) or ``"utterance"`` (labels ``[B]``: a class
            per example, its relevance averaged over its valid frames first).
        window: Time-resolved profiles: this many layer frames around each labelled segment
            (frame level only), giving ``[G, C, window]`` profiles; ``None``: one profile per group.
        window_center: Centre of the window: ``"segment"`` (the segment's centre) or ``"salient"``
            (its frame of largest ``sum_c |dy/da|``; GradNAP only).
        class_dim: Axis of the classes in the model's scores (``[B, K, T]``: 1; ``[B, T, K]``: 2);
            ``None``: found by probing.
        channels_last: Layer outputs (and the input) are ``[B, T, C]`` (True) or ``[B, C, T]`` (False);
            a dict says it per layer (``"<input>"``: the first input); ``None`` (or a layer not in the
            dict): each layer's layout found by probing (the axis that grows with the input's length
            is time, the one of size B the batch, the rest neurons).
        blank: CTC blank index (``objective="ctc"``).
        output_transform: Picks the scores from the model's output; default: the tensor, the first
            tensor of a tuple with a class axis, or ``output["logits"]``.
        input_window: Input-domain feature views (frame level): also average windows of this many
            input frames of the first input ``x`` (``[B, F, T]``), and of ``x * dy/dx``, around
            each labelled segment; ``None``: none.
        label_rate: Input time steps per frame label (160 for 10 ms labels of 16 kHz audio); lengths
            count input time steps.
        skip_failing_input_views: Leave the input views out with a warning where they cannot be cut.
        split_by_correctness: Split each group ``g`` into ``"g correct"`` and ``"g wrong"`` by whether the model's
            best class (the arg-max of the same forward's scores) is right at that frame (frame labels; CTC:
            the frame-level best path) or for that example (utterance labels): ``2G`` groups, group
            ``2 g + wrong`` (docs/errors.md).
        group_classes: With ``split_by_correctness``: the model's output class of each of the ``G`` groups, or a
            list of classes that all count as right (e.g. the letters that may spell a phoneme); ``None``:
            the classes are the groups (``K == G``), or the non-blank classes in order (``K == G + 1``, a CTC
            model whose ``blank`` is no group's class). Any other ``K`` needs it (an error says so).
        blank_frames: With ``split_by_correctness``, a frame whose best path is the CTC ``blank`` (a class that is
            no group's): ``"segment"`` takes the verdict of its labelled segment (right if the best path
            gives one of the label's classes at some frame of the segment), ``"wrong"`` counts it wrong,
            ``"ignore"`` leaves it out of both halves of the split.

    Raises:
        ValueError: for a value out of its range (the message names the option and what it allows).
    """

    method: Method | Sequence[Method] = "gradnap"
    objective: Objective | Callable[..., Any] = "predicted_logit"
    absolute: bool = False
    label_level: LabelLevel = "frame"
    window: int | None = None
    window_center: WindowCenter = "segment"
    class_dim: int | None = 1
    channels_last: bool | Mapping[str, bool] | None = False
    blank: int = 0
    output_transform: Callable[[Any], Any] | None = None
    input_window: int | None = None
    label_rate: int = 1
    skip_failing_input_views: bool = False
    split_by_correctness: bool = False
    group_classes: Sequence[int | Sequence[int]] | None = None
    blank_frames: BlankFrames = "segment"

    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            object.__setattr__(self, "method", tuple(self.method))
        methods = self.methods
        if not methods or len(set(methods)) != len(methods):
            raise ValueError(f"`method` should name each of {list(METHODS)} at most once, got {list(methods)!r}")
        for method in methods:
            _check_choice("method", method, METHODS)
        if not callable(self.objective) and self.objective not in OBJECTIVE_NAMES:
            raise ValueError(
                f"Unknown objective {self.objective!r}: `objective` should be one of {list(OBJECTIVE_NAMES)} "
                "or a callable (scores, ObjectiveInputs) -> scalar"
            )
        _check_choice("label_level", self.label_level, LABEL_LEVELS)
        _check_choice("window_center", self.window_center, WINDOW_CENTRES)
        _check_frames("window", self.window, self.label_level)
        _check_frames("input_window", self.input_window, self.label_level)
        rate = self.label_rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ValueError(f"label_rate must be a positive integer (input time steps per label frame), got {rate!r}")
        if self.window_center == "salient" and "gradnap" not in methods:
            raise ValueError("window_center='salient' needs gradients: use method='gradnap'")
        if self.output_transform is not None and not callable(self.output_transform):
            raise ValueError(f"`output_transform` should be a callable or None, got {self.output_transform!r}")
        _check_choice("blank_frames", self.blank_frames, BLANK_FRAMES)
        if self.group_classes is not None:
            if not self.split_by_correctness:
                raise ValueError("`group_classes` says what counts as right: it needs split_by_correctness=True")
            object.__setattr__(self, "group_classes", _checked_group_classes(self.group_classes))

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods, first (the default of results) first."""
        return (self.method,) if isinstance(self.method, str) else tuple(self.method)

    @property
    def needs_gradients(self) -> bool:
        return "gradnap" in self.methods

    @property
    def objective_name(self) -> str:
        """The objective's name (a callable's ``__name__``), for the files' metadata."""
        return self.objective if isinstance(self.objective, str) else getattr(self.objective, "__name__", "custom")


def _checked_group_classes(group_classes: Sequence[int | Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """``group_classes`` as one tuple of output classes per group (an int alone becomes a tuple of one)."""
    if isinstance(group_classes, (str, bytes)) or not isinstance(group_classes, Sequence):
        raise ValueError(
            f"`group_classes` should be a list with one output class (or list of them) per group, got {group_classes!r}"
        )
    checked = []
    for group, entry in enumerate(group_classes):
        classes = (entry,) if isinstance(entry, int) else tuple(entry) if isinstance(entry, Sequence) else (entry,)
        if not classes or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in classes):
            raise ValueError(
                f"`group_classes`[{group}] = {entry!r}: give the model's output class of the group (an index >= 0) "
                "or a non-empty list of them"
            )
        checked.append(classes)
    return tuple(checked)


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
        _check_choice("scale", self.scale, SCALES)


def check_clustering(num_clusters: int, clustering: str) -> None:
    """Raise a ``ValueError`` that lists what is allowed for an unknown clustering or ``num_clusters < 2``."""
    _check_choice("clustering", clustering, CLUSTERINGS)
    if num_clusters < 2:
        raise ValueError(f"`num_clusters` should be at least 2, got {num_clusters}")


@dataclass(frozen=True)
class ViewOptions:
    """What each profiling logs to TensorBoard, and how.

    Attributes:
        views: What to log, from :data:`VIEWS` (``None``: :data:`DEFAULT_VIEWS`, all but
            ``profile_clustered``): ``profile`` (the heatmaps in the order tracked over the run),
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
        _check_choice("embedding", self.embedding, EMBEDDINGS)
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


def as_plain_dict(options: EngineOptions | AnalysisOptions | ViewOptions) -> dict[str, Any]:
    """The fields of ``options`` by name (shallow: callables stay themselves)."""
    return {field.name: getattr(options, field.name) for field in fields(options)}


def resolve_callable(value: Callable[..., Any] | str | None, name: str) -> Callable[..., Any] | None:
    """``value`` itself if callable (or None), else the object its dotted path names.

    ``"package.module.function"`` (or ``"package.module.Class.method"``) is imported at once, so
    that a mistyped path fails when the callback is made, not at the first validation.

    Raises:
        ValueError: if ``value`` is neither callable nor the dotted path of a callable (says why).
    """
    if value is None or callable(value):
        return value
    example = f"e.g. {name}='my_package.heads.scores' for def scores(output): return output['scores']"
    if not isinstance(value, str) or "." not in value.strip("."):
        raise ValueError(f"`{name}` should be a callable or its dotted path, {example}; got {value!r}")
    parts = value.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute, None)
        if callable(found):
            return found
        raise ValueError(
            f"`{name}`={value!r}: module {module_name!r} (the longest part that imports) has no callable "
            f"{'.'.join(parts[split:])!r}; {example}"
        )
    raise ValueError(
        f"`{name}`={value!r}: no module of that path can be imported (is its package installed, or on "
        f"sys.path?); {example}"
    )
