"""How far apart a group's right and wrong profiles lie, for groups split by the model's correctness
(``split_by_correctness``: group ``2 g`` is "g correct", ``2 g + 1`` "g wrong"; docs/errors.md).

``right_wrong`` (per layer): the mean over the groups with frames on both sides of the cosine distance
between the group's right and wrong profiles. It is read against ``right_wrong_noise``: the mean cosine
distance between the profiles of the two halves of the data of one side (right or wrong) of those groups,
what sampling alone puts between two profiles of the same frames' kind. Each half holds half the frames,
so the noise is, if anything, too high: a ``right_wrong`` above it is a difference that the data carries.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np

from lightning_gradnap.profiles.result import LayerProfile, normalize_profiles

__all__ = ["RightWrong", "most_confused", "right_wrong_distance", "split_pairs", "warn_nan"]


@dataclass(frozen=True)
class RightWrong:
    """A layer's ``right_wrong`` score.

    Attributes:
        value: Mean cosine distance of the right and wrong profiles of the groups with both (NaN: none).
        noise: Mean cosine distance of the two halves' profiles of one side of those groups (NaN: none).
        groups: How many groups had both sides.
        reason: Why ``value`` is NaN (empty when it is not).
    """

    value: float = float("nan")
    noise: float = float("nan")
    groups: int = 0
    reason: str = ""


def split_pairs(counts: np.ndarray) -> np.ndarray:
    """``[P]`` the groups ``g`` (before the split) with frames both right (``2 g``) and wrong (``2 g + 1``)."""
    counts = np.asarray(counts).reshape(-1, 2)
    return np.flatnonzero((counts > 0).all(axis=1))


def most_confused(counts: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` groups ``g`` (before the split) with the most wrong frames (``counts[2 g + 1]``), most
    first; ties by the larger share of wrong frames, then by index. Groups without wrong frames are left out."""
    sides = np.asarray(counts, dtype=np.float64).reshape(-1, 2)
    wrong, total = sides[:, 1], sides.sum(axis=1)
    share = np.divide(wrong, total, out=np.zeros_like(wrong), where=total > 0)
    order = np.lexsort((np.arange(len(wrong)), -share, -wrong))
    return [int(g) for g in order if wrong[g] > 0][:count]


def _cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``1 - cos(a, b)``; NaN where a row is all zero or NaN."""
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, 1.0 - (a * b).sum(axis=1) / norms, np.nan)


def right_wrong_distance(
    layer: LayerProfile,
    weight_by_count: bool = False,
    scale: str | None = None,
    name: str = "layer",
    warn: bool = True,
) -> RightWrong:
    """The ``right_wrong`` score of one layer's ``2G`` profile (see the module's docstring); where it is NaN,
    its ``reason`` says why (and a warning, unless ``warn`` is False).

    Args:
        layer: The layer's profile, means and counts over the ``2G`` split groups (halves for the noise).
        weight_by_count: The profile's normalisation (count-weighted centring), used again for each half's means.
        scale: The profile's scaling, used again for each half's means.
        name: The layer, for the warning.
        warn: Warn where the score is NaN (:func:`~lightning_gradnap.analysis.profile_analysis.analyze` says it
            once for all the layers with the same reason).
    """
    nan = partial(_nan, name, warn)
    rows = layer.profile.reshape(len(layer.profile), -1)
    if len(rows) % 2:
        return nan(f"{len(rows)} groups, not right/wrong pairs (is split_by_correctness on?)")
    pairs = split_pairs(layer.counts)
    if not len(pairs):
        return nan("no group has frames both right and wrong (the model is right everywhere or nowhere)")
    value = _mean(_cosine_distances(rows[2 * pairs], rows[2 * pairs + 1]))
    if not np.isfinite(value):
        return nan("every group's right or wrong profile is zero")
    noise = float("nan")
    if layer.half_means is not None and layer.half_counts is not None:
        halves = [
            normalize_profiles(m, c, weight_by_count, scale).reshape(len(rows), -1)
            for m, c in zip(layer.half_means, layer.half_counts, strict=True)
        ]
        sides = np.concatenate([2 * pairs, 2 * pairs + 1])
        noise = _mean(_cosine_distances(halves[0][sides], halves[1][sides]))
    return RightWrong(value, noise, len(pairs))


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values, NaN without any."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _nan(name: str, warn: bool, reason: str) -> RightWrong:
    if warn:
        warn_nan([name], reason, stacklevel=4)
    return RightWrong(reason=reason)


def warn_nan(names: list[str], reason: str, stacklevel: int = 2) -> None:
    """The warning that ``right_wrong`` is NaN in the layers ``names``, and why."""
    warnings.warn(f"right_wrong is NaN in {', '.join(names)}: {reason}", RuntimeWarning, stacklevel=stacklevel + 1)
