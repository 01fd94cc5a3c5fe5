"""The pictures of docs/topomaps.md: an upper layer's topographic maps at three steps of a finished run.

Replays the run's saved profiles through the callback's tracking offline (the heatmap's anchors, then
the map layouts held from them, :class:`~lightning_gradnap.callback.history.ProfileHistory`), draws the
layer's maps at the first and the last profiling in the held layout, and at the first, a middle and the
last in the final profiling's layout (what ``<tag>/topomap_replay`` shows), and prints their scores.

    .venv/bin/python scripts/topomap_pictures.py runs/demo/tensorboard/version_0 --layer model.dense -o docs
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_gradnap import Profiles
from lightning_gradnap.analysis.profile_analysis import analyze
from lightning_gradnap.analysis.topomap import TopomapLayout, topomap_layout
from lightning_gradnap.analysis.topomap_scores import topomap_scores
from lightning_gradnap.callback.history import ProfileHistory
from lightning_gradnap.config import DEFAULT_VIEWS, ViewOptions
from lightning_gradnap.figures.layout import save_figure
from lightning_gradnap.figures.topomap import topomap_figure
from lightning_gradnap.summary.replay import step_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--layer", default="model.dense")
    parser.add_argument("-o", "--output", type=Path, default=Path("docs"))
    args = parser.parse_args()
    files = sorted((args.run_dir / "profiles").glob("*.npz"), key=step_of)
    history = ProfileHistory.of(ViewOptions((*DEFAULT_VIEWS, "topomap"), topomap_layers=None))
    tracked = []
    for epoch, path in enumerate(files):
        profiles, step = Profiles.load(path), int(step_of(path) or 0)
        profiles.orderings = {}
        analysis = analyze(profiles)
        history.track(profiles, step, analysis)
        tracked.append((step, epoch, profiles, analysis.layers[args.layer].topomap))
    chosen = [tracked[0], tracked[len(tracked) // 2], tracked[-1]]
    args.output.mkdir(parents=True, exist_ok=True)
    for step, epoch, profiles, scores in chosen:
        if step == chosen[1][0]:
            continue  # the middle step: in the final layout only
        layout = TopomapLayout.from_arrays(profiles.orderings[args.layer])
        held = f"step {layout.anchor_step}" if layout.anchor_step is not None else "this step (not anchored)"
        figure = topomap_figure(
            profiles[args.layer].profile,
            layout.positions,
            profiles.group_names,
            f"{args.layer} — epoch {epoch}, step {step}",
            profiles.group_categories,
            profiles.metadata.get("method", "profile"),
            f"layout held from {held}",
        )
        save_figure(figure, args.output / f"topomap_step{step}.png", dpi=80)
        listed = ", ".join(f"{name} {value:.3f} (random {random:.3f})" for name, (value, random) in scores.items())
        print(f"step {step}: layout from {held}; {listed}")
    final_step, _, final, _ = tracked[-1]
    final_layout = topomap_layout(final[args.layer].profile)
    for step, _, profiles, _ in chosen:
        figure = topomap_figure(
            profiles[args.layer].profile,
            final_layout,
            profiles.group_names,
            f"{args.layer} — step {step}, in the layout of step {final_step}",
            profiles.group_categories,
            profiles.metadata.get("method", "profile"),
            f"layout of the final profiling (step {final_step}): the replay",
        )
        save_figure(figure, args.output / f"topomap_replay_step{step}.png", dpi=80)
        scores = topomap_scores(profiles[args.layer].profile, final_layout)
        listed = ", ".join(f"{name} {value:.3f} (random {random:.3f})" for name, (value, random) in scores.items())
        print(f"replay, step {step} in the final layout: {listed}")


if __name__ == "__main__":
    main()
