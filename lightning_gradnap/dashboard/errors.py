"""The dashboard's right/wrong view: the most confused groups of a profiling split by correctness
(``split_by_correctness``, docs/errors.md), with their frames on each side and the layer's score."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lightning_gradnap.analysis.errors import most_confused, split_pairs
from lightning_gradnap.analysis.score_keys import RIGHT_WRONG, score_key
from lightning_gradnap.profiles.groups import unsplit_group

if TYPE_CHECKING:
    from lightning_gradnap.dashboard.data import Dashboard

__all__ = ["CONFUSED_GROUPS", "confused_groups"]

#: Groups the right/wrong view lists, most wrong frames first.
CONFUSED_GROUPS = 8


def confused_groups(
    dashboard: Dashboard, run: str, method: str, layer: str, step: int, repeat: str = "", count: int = CONFUSED_GROUPS
) -> dict[str, Any]:
    """The most confused groups of one profiling: ``{"split", "groups": [{"name", "correct", "wrong",
    "right_frames", "wrong_frames"}], "right_wrong", "right_wrong_noise"}`` (and ``"reason"``: why
    ``right_wrong`` is None); ``correct`` and ``wrong`` are the rows of the two sides in the file's order. A
    file not split by correctness gives ``split: false`` and no groups.

    Raises:
        KeyError: for an unknown run, method, layer or step (lists the known ones).
    """
    file = dashboard.file_at(run, method, layer, step, repeat)
    header = dashboard.header(file)
    scores = header.metadata.get("scores", {})
    scores = scores.get(method, {}).get(layer, {}) if isinstance(scores, dict) else {}
    payload: dict[str, Any] = {
        "split": bool(header.metadata.get("split_by_correctness")),
        "groups": [],
        RIGHT_WRONG: _number(scores.get(RIGHT_WRONG)),
        score_key(RIGHT_WRONG, "noise"): _number(scores.get(score_key(RIGHT_WRONG, "noise"))),
    }
    if not payload["split"] or len(header.group_names) % 2:
        return {**payload, "split": False}
    counts = np.asarray(dashboard.cache.array(file.path, dashboard.key(header, method, "counts", layer)))
    if payload[RIGHT_WRONG] is None:  # why there is no score, for the view's note
        payload["reason"] = (
            "the file carries no scores (written without the analysis)"
            if RIGHT_WRONG not in scores
            else "no group has frames on both sides"
            if not len(split_pairs(counts))
            else "every group's right or wrong profile is zero"
        )
    for group in most_confused(counts, count):
        payload["groups"].append(
            {
                "name": unsplit_group(header.group_names[2 * group])[0],
                "correct": 2 * group,
                "wrong": 2 * group + 1,
                "right_frames": int(counts[2 * group]),
                "wrong_frames": int(counts[2 * group + 1]),
            }
        )
    return payload


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None
