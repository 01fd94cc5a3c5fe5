"""Render the README's pictures of a run: one layer's tracked heatmap at three steps side by side
(from the saved .npz files) and an emergence map (from the scalars in the run's events).

    PYTHONPATH=. .venv/bin/python scripts/render_views.py runs/demo/tensorboard/version_0 \
        --layer model.conv5 --metric silhouette --out docs
"""

from __future__ import annotations

import argparse
import glob
import os
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_gradnap.analysis.tracking import TrackedOrder, track_orderings
from lightning_gradnap.figures.plots import save_figure
from lightning_gradnap.figures.tracked import emergence_figure, tracked_heatmap_panels
from lightning_gradnap.profiles.result import Profiles
from lightning_gradnap.summary.replay import step_of
from lightning_gradnap.summary.tags import numbered_layers


def tracked_panels(files: list[Path], layer: str, count: int, out: Path, dpi: int) -> Path:
    steps = [step_of(path) for path in files]
    chosen = (
        sorted({round(i * (len(files) - 1) / (count - 1)) for i in range(count)}) if count > 1 else [len(files) - 1]
    )
    loaded = [Profiles.load(files[i]) for i in chosen]
    last = loaded[-1]
    if layer in last.orderings:  # the orders the callback held (the same at every chosen step once anchored)
        order = TrackedOrder.from_arrays(last.orderings[layer], last[layer].profile)
    else:  # older files: track them here
        order = track_orderings([Profiles.load(path) for path in files], steps)[-1][layer]
    epochs = [int(path.name.split("-")[0].split("=")[1]) for path in files]
    titles = [f"epoch {epochs[i]}, step {steps[i]}" for i in chosen]
    columns = f"neurons by preferred group at step {order.anchor_step}" if order.anchor_step is not None else "neurons"
    figure = tracked_heatmap_panels(
        [profiles[layer].profile for profiles in loaded],
        last.group_names,
        order.groups,
        order.neurons,
        titles,
        last.group_categories,
        last.metadata.get("method", "profile"),
        f"{layer}: tracked heatmap (rows and columns held)",
        columns,
    )
    path = out / "tracked_heatmap.png"
    save_figure(figure, path, dpi=dpi)
    return path


def emergence(run: Path, layers: list[str], metric: str, out: Path, dpi: int) -> Path:
    events = EventAccumulator(glob.glob(os.path.join(run, "events.out.tfevents.*"))[0], size_guidance={"scalars": 0})
    events.Reload()
    numbered = numbered_layers(layers)
    series = {
        layer: {s.step: s.value for s in events.Scalars(f"gradnap/{metric}/{numbered[layer]}")} for layer in layers
    }
    steps = sorted({step for values in series.values() for step in values})
    matrix = np.array([[series[layer].get(step, np.nan) for step in steps] for layer in layers])
    figure = emergence_figure(matrix, layers, steps, metric)
    path = out / f"emergence_{metric}.png"
    save_figure(figure, path, dpi=dpi)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the run's log directory (holds profiles/ and the event file)")
    parser.add_argument("--layer", default="model.conv5")
    parser.add_argument("--metric", default="silhouette")
    parser.add_argument("--steps", type=int, default=3, help="panels: first, evenly spaced, last profiling")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args()
    files = sorted((args.run / "profiles").glob("*.npz"), key=step_of)
    print(tracked_panels(files, args.layer, args.steps, args.out, args.dpi))
    print(emergence(args.run, Profiles.load(files[-1]).layer_names, args.metric, args.out, args.dpi))


if __name__ == "__main__":
    main()
