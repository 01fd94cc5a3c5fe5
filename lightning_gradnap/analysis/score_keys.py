"""The names of a layer's scores, and of what each is read against: one scheme for the file's
metadata, the TensorBoard tags, the custom-scalars layout and the dashboard (DESIGN §1.6).

``<score>`` is a score's value and ``<score>_<against>`` what it is read against
(:data:`AGAINST`): ``_chance`` (its mean over shuffled categories), ``_chance_p95`` (their 95th
percentile), ``_input`` (the model input's own score), ``_init`` (the layer's score at the run's untrained-network
profiling, before the first training step), ``_half0`` and ``_half1`` (the score of each half of the
data), ``_random`` (a topographic map's score on random layouts: :data:`TOPOMAP_SCORES`), ``_noise`` (for
:data:`RIGHT_WRONG`: the same distance between the two halves of the data, :mod:`~lightning_gradnap.analysis.errors`).
The layer's :data:`LAYER_METRICS` stand alone, and so do the opt-in causal check's :data:`FAITHFULNESS`
scores and :data:`FAITHFULNESS_DROPS` (only where it ran).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightning_gradnap.analysis.profile_analysis import LayerAnalysis

__all__ = [
    "AGAINST",
    "FAITHFULNESS",
    "FAITHFULNESS_DROPS",
    "LAYER_METRICS",
    "RIGHT_WRONG",
    "TOPOMAP_SCORES",
    "layer_scores",
    "score_key",
    "split_score_key",
]

#: What a score is read against, as the suffix of its key.
AGAINST = ("chance", "chance_p95", "input", "init", "half0", "half1", "random", "noise")
#: The topographic map's quality scores (:mod:`~lightning_gradnap.analysis.topomap_scores`), each with ``_random``.
TOPOMAP_SCORES = ("topomap_smoothness", "topomap_blobs", "topomap_blob_size")
#: A layer's numbers that are no category score and have nothing to be read against.
LAYER_METRICS = ("reliability", "stability", "method_agreement")
#: With ``split_by_correctness``: how far each group's right and wrong profiles lie apart, read against ``_noise``.
RIGHT_WRONG = "right_wrong"
#: The causal check's score of each method (docs/faithfulness.md): the objective's drop when its top-k neurons
#: are zeroed at each group's frames, over the drop for k random ones.
FAITHFULNESS = {"gradnap": "faithfulness", "nap": "faithfulness_nap"}
#: The drops themselves, per labelled output frame, of each selection (what the ratios divide; finite where those
#: are NaN).
FAITHFULNESS_DROPS = {
    "gradnap": "faithfulness_drop",
    "nap": "faithfulness_drop_nap",
    "random": "faithfulness_drop_random",
}


def score_key(score: str, against: str = "") -> str:
    """``<score>``, or ``<score>_<against>`` (e.g. ``silhouette_chance_p95``).

    Raises:
        ValueError: if ``against`` is not one of :data:`AGAINST`.
    """
    if not against:
        return score
    if against not in AGAINST:
        raise ValueError(f"a score is read against one of {list(AGAINST)}, got {against!r}")
    return f"{score}_{against}"


def split_score_key(key: str) -> tuple[str, str]:
    """``(score, against)`` of a key made by :func:`score_key` (``against`` is ``""`` for the value)."""
    for against in sorted(AGAINST, key=len, reverse=True):  # chance_p95 before chance
        if key.endswith(f"_{against}"):
            return key[: -len(against) - 1], against
    return key, ""


def layer_scores(result: LayerAnalysis, input_scores: Mapping[str, float], halves: bool = True) -> dict[str, float]:
    """One layer's numbers by key: each score with its chance level, its 95th percentile, the input's
    score, its value at initialisation and (if ``halves``) each half's, then the :data:`LAYER_METRICS`, then
    the :data:`TOPOMAP_SCORES` with ``_random`` where the layer has a map, then :data:`RIGHT_WRONG` and its
    ``_noise`` where the groups are split by correctness, then the :data:`FAITHFULNESS` scores the layer
    has; NaN where undefined."""
    values: dict[str, float] = {}
    nan = float("nan")
    for name, baseline in result.scores.items():
        values[score_key(name)] = baseline.value
        values[score_key(name, "chance")] = baseline.chance
        values[score_key(name, "chance_p95")] = baseline.chance_p95
        values[score_key(name, "input")] = input_scores.get(name, nan)
        values[score_key(name, "init")] = result.init.get(name, nan)
        if halves:
            half0, half1 = result.halves.get(name, (nan, nan))
            values[score_key(name, "half0")], values[score_key(name, "half1")] = half0, half1
    values.update({name: result.metric(name) for name in LAYER_METRICS})
    for name, (value, random) in result.topomap.items():
        values[score_key(name)], values[score_key(name, "random")] = value, random
    if result.right_wrong is not None:
        values[RIGHT_WRONG] = result.right_wrong.value
        values[score_key(RIGHT_WRONG, "noise")] = result.right_wrong.noise
    values.update(result.faithfulness)
    return values
