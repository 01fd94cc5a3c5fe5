"""The names of a layer's scores, and of what each is read against: one scheme for the file's
metadata, the TensorBoard tags, the custom-scalars layout and the dashboard (DESIGN §1.6).

``<score>`` is a score's value and ``<score>_<against>`` what it is read against
(:data:`AGAINST`): ``_chance`` (its mean over shuffled categories), ``_chance_p95`` (their 95th
percentile), ``_input`` (the model input's own score), ``_half0`` and ``_half1`` (the score of each
half of the data). The layer's :data:`LAYER_METRICS` stand alone, and so do the opt-in causal check's
:data:`FAITHFULNESS` scores and :data:`FAITHFULNESS_DROPS` (only where it ran).
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
    "layer_scores",
    "score_key",
    "split_score_key",
]

#: What a score is read against, as the suffix of its key.
AGAINST = ("chance", "chance_p95", "input", "half0", "half1")
#: A layer's numbers that are no category score and have nothing to be read against.
LAYER_METRICS = ("reliability", "stability", "method_agreement")
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
    score and (if ``halves``) each half's, then the :data:`LAYER_METRICS` and the :data:`FAITHFULNESS` scores
    the layer has; NaN where undefined."""
    values: dict[str, float] = {}
    nan = float("nan")
    for name, baseline in result.scores.items():
        values[score_key(name)] = baseline.value
        values[score_key(name, "chance")] = baseline.chance
        values[score_key(name, "chance_p95")] = baseline.chance_p95
        values[score_key(name, "input")] = input_scores.get(name, nan)
        if halves:
            half0, half1 = result.halves.get(name, (nan, nan))
            values[score_key(name, "half0")], values[score_key(name, "half1")] = half0, half1
    values.update({name: result.metric(name) for name in LAYER_METRICS})
    values.update(result.faithfulness)
    return values
