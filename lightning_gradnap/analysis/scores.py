"""Category scores of a layer's group profiles, each with its chance level (docs/METHOD.md §1.6).

A score says how well the profiles' geometry follows what is known about the groups:

- ``silhouette``: of the groups under their categories, with cosine distance (-1 .. 1).
- ``neighbour``: leave-one-out nearest-neighbour agreement, the fraction of groups whose most
  similar other group (cosine) has the same category (0 .. 1). Cheap and robust for ~40 groups.
- ``rsa``: representational similarity, the Spearman correlation between the groups' profile
  distances and their distances in a feature space given per group (e.g. articulatory features).

Chance: each score again with the categories (or the features) shuffled over the groups, 500
times by default, vectorised: its mean and 95th percentile (for 39 groups the percentile moves by at
most about 0.01 between seeds; measured). Scores are computed for any number of labellings at
once (``labels [P, n]``), so the real one and the shuffles share one code path. Shuffles come
from a seeded generator of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

__all__ = ["SCORES", "Baseline", "cosine_distances", "neighbour_agreement", "rsa", "score_with_chance", "silhouettes"]

SCORES = ("silhouette", "neighbour", "rsa")
PERMUTATIONS = 500


@dataclass
class Baseline:
    """A score and its chance level.

    Attributes:
        value: The score of the true categories (NaN if undefined).
        chance: Mean score over shuffled categories.
        chance_p95: 95th percentile of the shuffled scores: a value above it is unlikely by chance.
    """

    value: float = float("nan")
    chance: float = float("nan")
    chance_p95: float = float("nan")


def cosine_distances(rows: np.ndarray) -> np.ndarray:
    """``[n, n]`` cosine distances of the rows; an all-zero row is at distance 1 from every other."""
    norms = np.linalg.norm(rows, axis=1)
    unit = rows / np.where(norms > 0, norms, 1.0)[:, None]
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    zero = norms == 0
    distances[zero, :] = distances[:, zero] = 1.0
    np.fill_diagonal(distances, 0.0)
    return distances


def silhouettes(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean silhouette ``[P]`` of each labelling ``labels [P, n]`` (codes ``0 .. k-1``), as scikit-learn
    computes it: ``s = (b - a) / max(a, b)``, and 0 for a group alone in its category."""
    labels = np.atleast_2d(labels)
    k = int(labels.max()) + 1
    onehot = labels[:, :, None] == np.arange(k)  # [P, n, k]
    totals = np.matmul(distances, onehot.astype(distances.dtype))  # [P, n, k] summed distance to each category
    sizes = onehot.sum(axis=1)  # [P, k]
    own_size = np.take_along_axis(sizes, labels, axis=1) - 1  # [P, n], without the group itself
    own = np.take_along_axis(totals, labels[:, :, None], axis=2)[:, :, 0]
    a = own / np.maximum(own_size, 1)
    means = totals / np.where(sizes > 0, sizes, 1)[:, None, :]
    means = np.where(onehot | (sizes[:, None, :] == 0), np.inf, means)  # other, non-empty categories
    b = means.min(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(own_size > 0, (b - a) / np.maximum(a, b), 0.0)
    return np.nan_to_num(s, nan=0.0).mean(axis=1)


def neighbour_agreement(distances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction ``[P]`` of groups whose nearest other group has the same label, per labelling ``[P, n]``."""
    labels = np.atleast_2d(labels)
    masked = distances + np.diag(np.full(len(distances), np.inf))
    nearest = masked.argmin(axis=1)  # ties: the first, as in a stable search
    return (labels == labels[:, nearest]).mean(axis=1)


def rsa(distances: np.ndarray, feature_distances: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Spearman correlation ``[P]`` of the profile distances with the feature distances of the groups
    reordered by each row of ``orders [P, n]`` (the identity order gives the true score)."""
    orders = np.atleast_2d(orders)
    upper = np.triu_indices(len(distances), k=1)
    profile_ranks = rankdata(distances[upper])
    feature_ranks = rankdata(feature_distances[upper])
    # Reordering the groups permutes the pairs, so the ranks move with them: no re-ranking needed.
    pair_index = np.full(distances.shape, -1)
    pair_index[upper] = np.arange(len(upper[0]))
    pair_index = np.maximum(pair_index, pair_index.T)
    permuted = feature_ranks[pair_index[orders[:, upper[0]], orders[:, upper[1]]]]  # [P, pairs]
    x = profile_ranks - profile_ranks.mean()
    y = permuted - permuted.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (y @ x) / (np.linalg.norm(y, axis=1) * np.linalg.norm(x))


def score_with_chance(
    score: str,
    rows: np.ndarray,
    categories: Sequence[str] | None = None,
    features: np.ndarray | None = None,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> Baseline:
    """``score`` of the profile ``rows [n, ...]`` and its chance level.

    Args:
        score: One of :data:`SCORES`.
        rows: Present groups' profiles (flattened per group).
        categories: One category per row (``silhouette``, ``neighbour``).
        features: ``[n, D]`` features per row (``rsa``; distances between groups are Euclidean).
        permutations: Shuffles for the chance level.
        seed: Seed of the shuffles.
    """
    rows = rows.reshape(len(rows), int(np.prod(rows.shape[1:])))  # also for no rows (an empty split half)
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; scores: {list(SCORES)}")
    if len(rows) < 3 or (score == "rsa" and features is None) or (score != "rsa" and categories is None):
        return Baseline()
    distances = cosine_distances(rows)
    generator = np.random.default_rng(seed)
    orders = np.vstack(
        [np.arange(len(rows)), generator.permuted(np.tile(np.arange(len(rows)), (permutations, 1)), axis=1)]
    )
    if score == "rsa":
        features = np.asarray(features, dtype=np.float64).reshape(len(rows), -1)
        feature_distances = np.linalg.norm(features[:, None, :] - features[None, :, :], axis=2)
        values = rsa(distances, feature_distances, orders)
    else:
        _, codes = np.unique(np.asarray(categories), return_inverse=True)
        if not 2 <= codes.max() + 1 <= len(rows) - 1:
            return Baseline()
        labels = codes[orders]
        values = silhouettes(distances, labels) if score == "silhouette" else neighbour_agreement(distances, labels)
    shuffled = values[1:]
    if not len(shuffled):
        return Baseline(float(values[0]))
    return Baseline(float(values[0]), float(np.nanmean(shuffled)), float(np.nanpercentile(shuffled, 95)))


def split_half_reliability(half_means: np.ndarray | None, scale: str | None = None) -> float:
    """Spearman-Brown corrected correlation of the profiles of the two halves of the data.

    Each half's group means are normalised like the profile (centred over the groups present in
    both halves), then correlated over all their entries: ``r_sb = 2 r / (1 + r)`` estimates how
    well the profile of all the data would agree with that of another data set of the same size.
    NaN without halves or with fewer than two shared groups.
    """
    if half_means is None:
        return float("nan")
    flat = half_means.reshape(2, half_means.shape[1], -1)
    both = ~np.isnan(flat).any(axis=2).any(axis=0)
    if both.sum() < 2:
        return float("nan")
    centred = [rows - rows.mean(axis=0) for rows in flat[:, both]]
    if scale == "std":
        centred = [rows / np.where(rows.std(axis=0) > 0, rows.std(axis=0), 1.0) for rows in centred]
    a, b = (rows.ravel() for rows in centred)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    r = float(np.corrcoef(a, b)[0, 1])
    return 2 * r / (1 + r) if r > -1 else float("nan")


def profile_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two profiles of one layer over the groups present in both (e.g. NAP
    against GradNAP: how much the gradient weighting changes the picture)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    both = ~np.isnan(a).any(axis=1) & ~np.isnan(b).any(axis=1)
    if both.sum() < 2 or a[both].std() == 0 or b[both].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[both].ravel(), b[both].ravel())[0, 1])


def ami_with_chance(
    categories: Sequence[object], clusters: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0
) -> Baseline:
    """Adjusted mutual information of flat ``clusters`` with ``categories`` (as scikit-learn's
    ``adjusted_mutual_info_score``, arithmetic normalisation), and its chance level.

    Shuffling the categories over the groups keeps both partitions' sizes, so the entropies and
    the expected mutual information are the same for every shuffle: only the mutual information
    is computed per shuffle, from all contingency tables at once.
    """
    _, a = np.unique(np.asarray(categories), return_inverse=True)
    _, b = np.unique(np.asarray(clusters), return_inverse=True)
    n = len(a)
    if a.max() == b.max() == 0 or n < 2:
        return Baseline()
    orders = np.vstack(
        [np.arange(n), np.random.default_rng(seed).permuted(np.tile(np.arange(n), (permutations, 1)), axis=1)]
    )
    tables = np.matmul(
        (a[orders][:, :, None] == np.arange(a.max() + 1)).transpose(0, 2, 1).astype(float),
        (b[:, None] == np.arange(b.max() + 1)).astype(float),
    )  # [P, A, B]
    rows, columns = np.bincount(a).astype(float), np.bincount(b).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = tables / n * np.log(n * tables / np.outer(rows, columns))
    mutual = np.nansum(terms, axis=(1, 2))
    entropy = [-(p * np.log(p)).sum() for p in (rows / n, columns / n)]
    expected = _expected_mutual_information(rows, columns, n)
    norm = np.mean(entropy) - expected
    values = (mutual - expected) / norm if norm > 0 else np.full(len(orders), np.nan)
    return Baseline(float(values[0]), float(np.mean(values[1:])), float(np.percentile(values[1:], 95)))


def _expected_mutual_information(rows: np.ndarray, columns: np.ndarray, n: int) -> float:
    """E[MI] of two partitions of ``n`` items with the given part sizes, under random assignment
    (Vinh, Epps and Bailey 2010): a hypergeometric sum over every cell's possible count."""
    from scipy.special import gammaln

    a, b = rows[:, None, None], columns[None, :, None]
    counts = np.arange(1, n + 1, dtype=float)[None, None, :]
    possible = (counts >= np.maximum(1, a + b - n)) & (counts <= np.minimum(a, b))
    with np.errstate(invalid="ignore", divide="ignore"):
        log_p = (
            gammaln(a + 1)
            + gammaln(b + 1)
            + gammaln(n - a + 1)
            + gammaln(n - b + 1)
            - gammaln(n + 1)
            - gammaln(counts + 1)
            - gammaln(a - counts + 1)
            - gammaln(b - counts + 1)
            - gammaln(n - a - b + counts + 1)
        )
        terms = counts / n * np.log(n * counts / (a * b)) * np.exp(log_p)
    return float(np.where(possible, terms, 0.0).sum())
