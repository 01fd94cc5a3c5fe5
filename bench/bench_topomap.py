"""What the topographic maps cost per profiling, side by side with the same profilings without them, in one run.

Replays a finished run's saved profiles (default: the demo's, ``runs/demo/tensorboard/version_0``) through
what the callback does at each profiling on global rank zero after the analysis: the history's tracking
(``ProfileHistory.track``: tracked orders and, with maps, the layouts and the scores) and the views
(``write_views`` into a scratch event file, in the foreground), alternating a history without maps
(``views`` = the defaults) and one with them (the defaults + ``topomap``, ``topomap_layers`` upper
layers). Also times the layout alone at the demo's and the full model's widths (256 and 2,000 neurons),
and the replay of the maps at the end of ``fit``.

    .venv/bin/python bench/bench_topomap.py [--run-dir RUN_DIR] [--repeats 3] [--topomap-layers 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from lightning_gradnap import Profiles
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.topomap import topomap_layout
from lightning_gradnap.analysis.topomap_scores import topomap_scores
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.config import DEFAULT_VIEWS, ViewOptions
from lightning_gradnap.summary.replay import step_of
from lightning_gradnap.summary.topomap_views import replay_topomaps
from lightning_gradnap.summary.views import write_views


def one_run(profilings: list[tuple[int, Profiles]], options: ViewOptions, log_dir: str) -> tuple[float, float]:
    """Seconds of tracking and of the views, summed over the run's profilings (as the callback makes them)."""
    history = ProfileHistory.of(options)
    tracking = drawing = 0.0
    frames: dict = {}
    with SummaryWriter(log_dir) as writer:
        for index, (step, saved) in enumerate(profilings):
            profiles = Profiles(saved.layers, saved.group_names, saved.group_categories, dict(saved.metadata))
            analysis = analyze(profiles)  # not timed: the same with or without maps
            start = time.perf_counter()
            scores = history.track(profiles, step, analysis)
            tracking += time.perf_counter() - start
            start = time.perf_counter()
            views = options.views or ()
            write_views(writer, profiles, analysis, step, index, views, scores=scores, layout=index == 0, frames=frames)
            drawing += time.perf_counter() - start
            history.add(step, index, None, profiles, analysis)
    return tracking, drawing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/demo/tensorboard/version_0"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--topomap-layers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    files = sorted((args.run_dir / "profiles").glob("*.npz"), key=step_of)
    if not files:
        raise SystemExit(f"no profile files in {args.run_dir / 'profiles'}: run scripts/demo.sh first")
    profilings = [(int(step_of(path) or 0), Profiles.load(path)) for path in files]
    widths = {layer: result.profile.shape[1] for layer, result in profilings[-1][1].layers.items()}
    plain = ViewOptions(DEFAULT_VIEWS, background_figures=False)
    mapped = ViewOptions((*DEFAULT_VIEWS, "topomap"), background_figures=False, topomap_layers=args.topomap_layers)
    results: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as log_dir:
        one_run(profilings[:2], mapped, log_dir)  # warm up (imports, text cache)
        for _ in range(args.repeats):
            results["without"].append(one_run(profilings, plain, log_dir))
            results["with"].append(one_run(profilings, mapped, log_dir))
        start = time.perf_counter()
        with SummaryWriter(log_dir) as writer:
            history = ProfileHistory.of(mapped)
            saved_files = []
            for index, (step, saved) in enumerate(profilings):  # files with layouts, as the callback writes them
                history.track(saved, step, analyze(saved))
                saved_files.append(saved.save(Path(log_dir) / files[index].name))
            start = time.perf_counter()
            report = replay_topomaps(writer, saved_files)
        replay_seconds = time.perf_counter() - start
    count = len(profilings)
    print(f"{args.run_dir}: {count} profilings, layers {widths}, {len(profilings[0][1].group_names)} groups")
    print(f"median of {args.repeats} alternating runs, per profiling, figures in the foreground:")
    for name, runs in results.items():
        tracking = statistics.median(r[0] for r in runs) / count
        drawing = statistics.median(r[1] for r in runs) / count
        print(f"  {name:7s} maps: tracking {tracking:.3f} s, views {drawing:.3f} s, total {tracking + drawing:.3f} s")
    added = [(w[0] + w[1] - p[0] - p[1]) / count for p, w in zip(results["without"], results["with"], strict=True)]
    median = statistics.median(added)
    print(f"  added by the maps of {args.topomap_layers} layers: {_list(added)} s; median {median:.3f} s")
    print(f"replay of the maps at the end of fit: {replay_seconds:.2f} s for {report.images} maps")
    rng = np.random.default_rng(0)
    for width in (256, 2000):
        profile = rng.normal(size=(39, width))
        start = time.perf_counter()
        positions = topomap_layout(profile)
        middle = time.perf_counter()
        topomap_scores(profile, positions)
        print(
            f"one layer of {width} neurons: layout {middle - start:.2f} s (once per run, and at each profiling "
            f"before the anchor), scores {time.perf_counter() - middle:.2f} s (each profiling)"
        )


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


if __name__ == "__main__":
    main()
