"""The allowed values of the options (``Literal`` types, which LightningCLI reads, and tuples), and their checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

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


def check_choice(name: str, value: object, allowed: Sequence[object]) -> None:
    """Raise a ``ValueError`` that names the option and lists what it allows, for a value not in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"`{name}` should be one of {list(allowed)}, got {value!r}")


def check_frames(name: str, value: int | None, label_level: str) -> None:
    """Raise a ``ValueError`` unless ``value`` is None or a positive number of frames with frame labels."""
    if value is not None and (value < 1 or label_level != "frame"):
        raise ValueError(f"`{name}` must be a positive number of frames, with label_level='frame'")


def check_clustering(num_clusters: int, clustering: str) -> None:
    """Raise a ``ValueError`` that lists what is allowed for an unknown clustering or ``num_clusters < 2``."""
    check_choice("clustering", clustering, CLUSTERINGS)
    if num_clusters < 2:
        raise ValueError(f"`num_clusters` should be at least 2, got {num_clusters}")
