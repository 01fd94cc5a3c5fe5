"""Clustering, ordering and cluster-quality metrics of profiles (docs/METHOD.md §1.6).

Absent groups (NaN rows) are left out of every computation; results that index groups refer
to the full group list.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score

from lightning_gradnap.analysis.errors import RightWrong, right_wrong_distance, warn_nan
from lightning_gradnap.analysis.score_keys import LAYER_METRICS
from lightning_gradnap.analysis.scores import (
    PERMUTATIONS,
    SCORES,
    Baseline,
    ami_with_chance,
    score_with_chance,
    split_half_reliability,
)
from lightning_gradnap.config import check_clustering
from lightning_gradnap.profiles.result import Profiles

__all__ = [
    "LayerAnalysis",
    "ProfileAnalysis",
    "analyze",
    "clustered_order",
    "cosine_linkage",
    "layer_agreement",
    "neuron_dendrogram_order",
    "stability",
]

#: Above this many leaves, optimal leaf ordering (cubic time) is skipped for the neuron order.
OPTIMAL_ORDERING_LIMIT = 512


def _flat(profile: np.ndarray) -> np.ndarray:
    """``[G, C]`` rows; time-resolved ``[G, C, W]`` profiles are flattened per group."""
    return profile.reshape(profile.shape[0], -1)


def cosine_linkage(rows: np.ndarray, optimal_ordering: bool = True) -> np.ndarray | None:
    """Average-linkage hierarchical clustering with cosine distance (None for fewer than 2 rows).

    All-zero rows have no direction; they are given distance 1 to everything.
    """
    if len(rows) < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = np.nan_to_num(pdist(rows, metric="cosine"), nan=1.0)
    distances = np.clip(distances, 0.0, 2.0)
    linkage = hierarchy.linkage(distances, method="average")
    if optimal_ordering and len(rows) <= OPTIMAL_ORDERING_LIMIT:
        linkage = hierarchy.optimal_leaf_ordering(linkage, distances)
    return linkage


def neuron_dendrogram_order(present_profile: np.ndarray) -> np.ndarray:
    """``[C]`` neurons in the dendrogram order of the columns of the present groups' ``[g, C]`` (or
    ``[g, C, W]``) profile: each neuron is compared by its values over the groups (and the window)."""
    num_neurons = present_profile.shape[1]
    neurons = present_profile.swapaxes(0, 1).reshape(num_neurons, -1)
    columns = cosine_linkage(neurons) if len(present_profile) else None
    return hierarchy.leaves_list(columns) if columns is not None else np.arange(num_neurons)


def clustered_order(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ``[G, C]`` (or ``[G, C, W]``) profile's own dendrogram orders ``(present groups, neurons)``, as
    :func:`analyze` orders a layer (its ``group_order`` and ``neuron_order``)."""
    present, _, group_order = _group_clustering(_flat(profile))
    return group_order, neuron_dendrogram_order(profile[present])


def _group_clustering(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(present, linkage, group order)`` of ``[G, D]`` rows: the groups without NaN, their cosine
    linkage (None for fewer than 2) and their indices in dendrogram order."""
    present = np.flatnonzero(~np.isnan(rows).any(axis=1))
    linkage = cosine_linkage(rows[present])
    return present, linkage, present[hierarchy.leaves_list(linkage)] if linkage is not None else present


def stability(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean cosine similarity of each group's profile with its previous one (groups present in both).

    NaN if there is nothing to compare: no group present in both, or profiles of another shape
    (e.g. a run resumed with other groups or another ``window``).
    """
    if previous.shape != current.shape:
        return float("nan")
    previous, current = _flat(previous), _flat(current)
    both = ~np.isnan(previous).any(axis=1) & ~np.isnan(current).any(axis=1)
    if not both.any():
        return float("nan")
    a, b = previous[both], current[both]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    similarity = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0), 0.0)
    return float(similarity.mean())


@dataclass
class LayerAnalysis:
    """One layer's clustering and scores.

    Attributes:
        present: Indices of the groups with data (all others are absent).
        linkage: Scipy linkage of the present groups (None for fewer than 2).
        group_order: Present group indices in dendrogram order.
        neuron_order: Neuron indices in dendrogram order of the columns.
        clusters: ``[G]`` flat cluster of each group (``-1`` for absent groups).
        scores: ``silhouette``, ``neighbour``, ``rsa`` (:mod:`lightning_gradnap.analysis.scores`) and ``ami``
            (of the flat clusters against the categories; one cut of one tree, a noisy score), each
            with its chance level; NaN where undefined (no categories, no features).
        halves: Each score on the profile of each half of the data ``(half 0, half 1)``: an
            interval that shows how much of a score's change is noise.
        reliability: Split-half reliability of the profile (Spearman-Brown corrected).
        stability: Mean cosine similarity with the previous profiling (NaN if there is none).
        method_agreement: Correlation of the layer's GradNAP and NAP profiles, when both are made.
        init: Each score of the same layer at the run's untrained-network profiling (the weights at the
            start of ``fit``), by score name: what the layer scores from its architecture alone.
        topomap: Its topographic map's scores, ``name -> (value, on random layouts)``, where it has a map.
        right_wrong: With groups split by correctness, how far right and wrong profiles lie apart
            (:mod:`~lightning_gradnap.analysis.errors`); ``None`` otherwise.
        faithfulness: The causal check's scores by key (``score_keys.FAITHFULNESS``); empty where it did not run.
    """

    present: np.ndarray
    linkage: np.ndarray | None
    group_order: np.ndarray
    neuron_order: np.ndarray
    clusters: np.ndarray
    scores: dict[str, Baseline] = field(default_factory=dict)
    halves: dict[str, tuple[float, float]] = field(default_factory=dict)
    reliability: float = float("nan")
    stability: float = float("nan")
    method_agreement: float = float("nan")
    init: dict[str, float] = field(default_factory=dict)
    topomap: dict[str, tuple[float, float]] = field(default_factory=dict)
    right_wrong: RightWrong | None = None
    faithfulness: dict[str, float] = field(default_factory=dict)

    @property
    def silhouette(self) -> float:
        return self.scores.get("silhouette", Baseline()).value

    @property
    def ami(self) -> float:
        return self.scores.get("ami", Baseline()).value

    def metric(self, name: str) -> float:
        """A score's value, or ``reliability`` / ``stability`` / ``method_agreement``."""
        if name in LAYER_METRICS:
            return getattr(self, name)
        return self.scores.get(name, Baseline()).value


@dataclass
class ProfileAnalysis:
    """Per-layer analyses, the layer-by-layer agreement (AMI between flat clusterings) and the
    scores of the model input's own profile (``input_scores``: the baseline every layer is read against)."""

    layers: dict[str, LayerAnalysis]
    agreement: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    input_scores: dict[str, float] = field(default_factory=dict)


def analyze(
    profiles: Profiles,
    num_clusters: int = 5,
    clustering: str = "hierarchical",
    previous: Profiles | None = None,
    seed: int = 0,
    features: np.ndarray | None = None,
    input_profile: np.ndarray | None = None,
    permutations: int = PERMUTATIONS,
) -> ProfileAnalysis:
    """Cluster groups and neurons of every layer and score the clusterings against their chance.

    Args:
        profiles: The profiles.
        num_clusters: ``k`` flat clusters of groups (capped at the number of present groups).
        clustering: ``"hierarchical"`` (cut of the average-linkage tree) or ``"kmeans"``.
        previous: Profiles of the previous profiling, for the stability.
        seed: Seed of k-means and of the shuffles for the chance levels.
        features: ``[G, D]`` features of the groups (e.g. articulatory), for ``rsa``.
        input_profile: ``[G, ...]`` profile of the model input (e.g. the feature view), scored
            the same way as the input baseline.
        permutations: Shuffles for each chance level.
    """
    check_clustering(num_clusters, clustering)
    categories = profiles.group_categories
    scale = profiles.metadata.get("scale")
    layers = {}
    no_right_wrong: dict[str, list[str]] = {}  # why right_wrong is NaN: in which layers
    for name, layer in profiles.layers.items():
        result = _analyze_layer(layer.profile, num_clusters, clustering, categories, seed)
        known = dict(categories=_pick(categories, result.present), features=_pick(features, result.present))
        rows = _flat(layer.profile)[result.present]
        result.scores.update(
            {s: score_with_chance(s, rows, **known, permutations=permutations, seed=seed) for s in SCORES}
        )
        result.reliability = split_half_reliability(layer.half_means, scale)
        if profiles.metadata.get("split_by_correctness"):
            weighted = bool(profiles.metadata.get("weight_by_count"))
            result.right_wrong = right_wrong_distance(layer, weighted, scale, name, warn=False)
            if result.right_wrong.reason:
                no_right_wrong.setdefault(result.right_wrong.reason, []).append(name)
        if layer.half_means is not None:
            halves = [_centred(_flat(m)[result.present]) for m in layer.half_means]
            _warn_if_too_few(halves)
            result.halves = {s: tuple(_value(s, h, **known) for h in halves) for s in SCORES}  # type: ignore[misc]
        if previous is not None and name in previous.layers:
            result.stability = stability(previous[name].profile, layer.profile)
        layers[name] = result
    for reason, names in no_right_wrong.items():
        warn_nan(names, reason)
    return ProfileAnalysis(layers, layer_agreement(layers), _input_scores(input_profile, categories, features))


def _warn_if_too_few(halves: list[np.ndarray]) -> None:
    """Say why the split-half scores are NaN when a half has fewer than 3 groups (one warning text, shown once)."""
    if min(int((~np.isnan(h).any(axis=1)).sum()) for h in halves) < 3:
        warnings.warn(
            "split-half scores are NaN: one half of the profiled data has fewer than 3 groups (too few validation "
            "examples for two halves); profile more batches (`max_batches`) or more examples",
            stacklevel=3,
        )


def _pick(values, present: np.ndarray):
    return None if values is None else np.asarray(values)[present]


def _centred(rows: np.ndarray) -> np.ndarray:
    return rows - np.nanmean(rows, axis=0)


def _value(score: str, rows: np.ndarray, **known) -> float:
    """A score without its chance level (NaN rows, groups missing in a half, are left out)."""
    keep = ~np.isnan(rows).any(axis=1)
    known = {key: None if value is None else value[keep] for key, value in known.items()}
    return score_with_chance(score, rows[keep], **known, permutations=0).value


def _input_scores(input_profile: np.ndarray | None, categories, features) -> dict[str, float]:
    if input_profile is None:
        return {}
    present = np.flatnonzero(~np.isnan(_flat(input_profile)).any(axis=1))
    rows = _centred(_flat(input_profile)[present])
    return {
        s: _value(s, rows, categories=_pick(categories, present), features=_pick(features, present)) for s in SCORES
    }


def _analyze_layer(
    layer_profile: np.ndarray, num_clusters: int, clustering: str, categories: list[str] | None, seed: int
) -> LayerAnalysis:
    """One layer's ``[G, C]`` or time-resolved ``[G, C, W]`` profile: groups are compared by all their
    values, neurons (``C``, the heatmap's columns) by their values over groups and time."""
    profile = _flat(layer_profile)
    present, linkage, group_order = _group_clustering(profile)
    neuron_order = neuron_dendrogram_order(layer_profile[present])
    rows = profile[present]
    clusters = np.full(len(profile), -1)
    k = min(num_clusters, len(present))
    if k >= 2:
        if clustering == "kmeans":
            clusters[present] = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(rows)
        else:
            clusters[present] = hierarchy.fcluster(linkage, k, criterion="maxclust") - 1
    result = LayerAnalysis(present, linkage, group_order, neuron_order, clusters)
    if categories is not None and len(present) >= 3:
        known = np.array(categories)[present]
        if 2 <= len(set(known)) <= len(present) - 1:
            result.scores["ami"] = ami_with_chance(known, clusters[present], seed=seed)
    return result


def layer_agreement(layers: dict[str, LayerAnalysis]) -> np.ndarray:
    """``[L, L]`` AMI between the flat group clusterings of every pair of layers."""
    names = list(layers)
    agreement = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names[i:], start=i):
            shared = (layers[a].clusters >= 0) & (layers[b].clusters >= 0)
            if shared.sum() >= 2:
                agreement[i, j] = agreement[j, i] = adjusted_mutual_info_score(
                    layers[a].clusters[shared], layers[b].clusters[shared]
                )
    return agreement
