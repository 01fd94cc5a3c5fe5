"""Time per profiled frame of `compute_profiles` as layers, frames and groups grow.

torchaudio's full-size Wav2Letter, batch of 4. Layers: the last k of its 11 ReLU outputs (the
backward pass reaches back to the earliest profiled layer). Expected (issue 5): linear in frames
and layers, nearly flat in groups. Writes bench/scaling.png.

    .venv/bin/python bench/bench_scaling.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torchaudio.models import Wav2Letter

from lightning_gradnap import compute_profiles
from lightning_gradnap.figures.plots import save_figure

BATCH = 4


def seconds(model, layers, frames: int, groups: int, repeats: int) -> float:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 40, frames, generator=generator)
    labels = torch.randint(0, groups, (BATCH, -(-frames // 8)), generator=generator).repeat_interleave(8, 1)[:, :frames]
    batch = [(x, labels)]
    compute_profiles(model, batch, layers, groups)  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute_profiles(model, batch, layers, groups)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*groups have no frames")  # many groups, few frames: expected
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = Wav2Letter(num_classes=40, input_type="mfcc", num_features=40).eval()
    relus = [name for name, module in model.named_modules() if isinstance(module, torch.nn.ReLU)]
    sweeps = {
        "profiled layers (last k of 11)": [(k, relus[-k:], 400, 40) for k in (1, 3, 5, 7, 9, 11)],
        "input frames": [(t, relus, t, 40) for t in (200, 400, 800, 1600)],
        "groups": [(g, relus, 400, g) for g in (10, 25, 50, 100, 200)],
    }
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    for axes, (label, runs) in zip(figure.subplots(1, 3), sweeps.items(), strict=True):
        xs, per_frame = [], []
        for x, layers, frames, groups in runs:
            t = seconds(model, layers, frames, groups, args.repeats)
            xs.append(x)
            per_frame.append(t / (BATCH * frames) * 1e3)
            print(f"{label:32s} {x:5d}: {t * 1e3:7.0f} ms, {per_frame[-1]:.3f} ms per frame")
        axes.plot(xs, per_frame, "o-")
        axes.set_xlabel(label)
        axes.set_ylabel("ms per input frame")
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
    figure.suptitle(f"compute_profiles on Wav2Letter 250/2000, batch {BATCH}, 2 CPU threads")
    path = Path(__file__).parent / "scaling.png"
    save_figure(figure, path)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
