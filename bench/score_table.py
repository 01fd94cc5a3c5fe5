"""The scores of a run, layer by layer, next to what they are read against (docs/scores.md).

Reads the scalars a GradNAPCallback logged (``<tag>/<score>/NN_<layer>`` and ``<score>_chance``,
``_chance_p95``, ``_input``, ``_init``, ``_half0``, ``_half1``; ``reliability``) from a run's event files
and prints, per layer and score: the value at the first and the last profiling, the chance level and its
95th percentile (last profiling), the input baseline, the untrained network's score (the profiling before
training; NaN for runs without it), the reliability, and two noise measures over
the run: the median change between consecutive profilings and the median gap between the two
halves of the data at one profiling. A score whose half gap is as large as its step-to-step change
cannot tell change from noise.

    .venv/bin/python bench/score_table.py runs/demo/tensorboard/version_0 [--tag gradnap] [--markdown]
"""

from __future__ import annotations

import argparse
import glob
import os
from collections import defaultdict

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

SCORES = ("silhouette", "neighbour", "rsa", "ami")


def read_scalars(log_dir: str) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        events = EventAccumulator(path, size_guidance={"scalars": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            series[tag] += [(e.step, e.value) for e in events.Scalars(tag)]
    return {tag: sorted(set(values)) for tag, values in series.items()}


def logged_values(series: dict[str, list[tuple[int, float]]], tag: str, name: str, layer: str) -> list[float]:
    """The values logged under ``<tag>/<name>/<layer>``, in step order (none if it was not logged)."""
    return [v for _, v in series.get(f"{tag}/{name}/{layer}", [])]


def layer_rows(series: dict[str, list[tuple[int, float]]], tag: str) -> list[dict[str, object]]:
    """One row per layer and score, layers in network order (the tags' ``NN_`` prefix)."""
    layers = sorted(t.split("/", 2)[2] for t in series if t.startswith(f"{tag}/reliability/"))
    rows = []
    for layer in layers:
        reliability = logged_values(series, tag, "reliability", layer)
        for score in SCORES:
            values = logged_values(series, tag, score, layer)
            if not values:
                continue
            last = {
                kind: (logged_values(series, tag, f"{score}_{kind}", layer) or [float("nan")])[-1]
                for kind in ("chance", "chance_p95", "input", "init")
            }
            halves = [np.array(logged_values(series, tag, f"{score}_half{h}", layer)) for h in (0, 1)]
            gap = (
                np.median(np.abs(halves[0] - halves[1]))
                if len(halves[0]) and len(halves[0]) == len(halves[1])
                else np.nan
            )
            rows.append(
                {
                    "layer": layer.split("_", 1)[1],
                    "score": score,
                    "first": values[0],
                    "last": values[-1],
                    "chance": last["chance"],
                    "chance_p95": last["chance_p95"],
                    "input": last["input"],
                    "init": last["init"],
                    "reliability": reliability[-1] if reliability else float("nan"),
                    "step_change": float(np.median(np.abs(np.diff(values)))) if len(values) > 1 else float("nan"),
                    "half_gap": float(gap),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log_dir", help="a run's log directory (with events.out.tfevents.* files)")
    parser.add_argument("--tag", default="gradnap", help="tag prefix: gradnap or nap")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = layer_rows(read_scalars(args.log_dir), args.tag)
    if not rows:
        raise SystemExit(f"no {args.tag}/<score>/NN_<layer> scalars with reliability under {args.log_dir}")
    columns = [
        "layer",
        "score",
        "first",
        "last",
        "chance",
        "chance_p95",
        "input",
        "init",
        "reliability",
        "step_change",
        "half_gap",
    ]
    if args.markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
    for row in rows:
        cells = [str(row[c]) if isinstance(row[c], str) else f"{row[c]:.2f}" for c in columns]
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(f"{c:>10}" for c in cells))


if __name__ == "__main__":
    main()
