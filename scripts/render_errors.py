"""Render docs/errors.md's picture: the right/wrong profiles of the most confused groups of one layer,
from a profile file split by correctness (``split_by_correctness``), and print each layer's score.

    PYTHONPATH=. .venv/bin/python scripts/render_errors.py runs/demo_errors/tensorboard/version_0 \
        --layer model.conv6 --out docs/errors_demo.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_gradnap.analysis.errors import most_confused
from lightning_gradnap.analysis.profile_analysis import neuron_dendrogram_order
from lightning_gradnap.figures.errors import right_wrong_figure
from lightning_gradnap.figures.plots import save_figure
from lightning_gradnap.profiles.result import Profiles, window_mean
from lightning_gradnap.summary.replay import step_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a log directory with profiles/*.npz")
    parser.add_argument("--layer", required=True)
    parser.add_argument("--groups", type=int, default=8, help="the most confused groups shown")
    parser.add_argument("--out", type=Path, default=Path("docs/errors_demo.png"))
    parser.add_argument("--dpi", type=int, default=100)
    parser.add_argument("--title", default="", help="what the profiling is (default: the file's name)")
    args = parser.parse_args()
    path = sorted((args.run / "profiles").glob("*.npz"), key=step_of)[-1]
    profiles = Profiles.load(path)
    if not profiles.metadata.get("split_by_correctness"):
        raise SystemExit(f"{path} is not split by correctness (profile with split_by_correctness=True)")
    scores = profiles.metadata.get("scores", {}).get(profiles.metadata.get("method", "gradnap"), {})
    for layer, values in scores.items():
        print(f"{layer}: right_wrong {values.get('right_wrong')}, noise {values.get('right_wrong_noise')}")
    layer = profiles[args.layer]
    confused = most_confused(layer.counts, args.groups)
    present = layer.present
    order = neuron_dendrogram_order(window_mean(layer.profile)[present])
    print(
        "most confused:",
        [(profiles.group_names[2 * g], *layer.counts[2 * g : 2 * g + 2].astype(int)) for g in confused],
    )
    title = f"{args.layer}: the {len(confused)} most confused groups ({args.title or path.name})"
    figure = right_wrong_figure(
        layer.profile, layer.counts, profiles.group_names, confused, order, title, profiles.group_categories
    )
    save_figure(figure, args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
