"""What GradNAPCallback costs inside `trainer.fit`, measured side by side in one run.

1. Profiled validation batches: time from `on_validation_batch_start` to the end of
   `on_validation_batch_end` (the step and the callback's work), with and without the callback,
   on the same batches; runs alternate. Target: ratio at most 2.2.
2. Whole demo epoch (training + validation + the callback's analysis and figures) with the
   callback at its default settings versus without. Target: at most 10% longer.

With ``--epochs 3`` part 2 times fits of 3 epochs and reports the time per epoch: then the
figures of one epoch are drawn while the next one trains, as in the demo's 10 epochs; with one
epoch, ``fit`` waits for them at the end (the last epoch of any run). Part 2 also reports the
replay at the end of each fit (one heatmap per layer and profiling, default on) and the ratio
without it, and the time spent inside the callback's hooks against the rest of the same fit:
with ``--foreground-figures`` that is all of the callback's work but the profiled forward's
extra cost, measured within one fit, so that it does not move with the machine's speed between
fits (which varies by 10-20% here from one fit to the next).

3. ``--replay-from RUN_DIR``: time the replay of a finished run's ``profiles/*.npz`` into a
   scratch event file (median of ``--repeats``), e.g. ``runs/demo/tensorboard/version_0``.

4. ``--split-by-correctness``: the callback splits each phoneme by the model's correctness (``2G`` groups,
   letters that may spell each phoneme as its classes: ``example_asr.phonetics.letters``; docs/errors.md);
   with ``--against-default`` the runs "without" have the callback at its defaults (no split), so the ratios
   are those of the option on against off. ``--train-batches N`` shortens part 2's epochs.

    .venv/bin/python bench/bench_callback.py [--model demo|full] [--repeats 3] [--epoch] [--epochs 1]
        [--accelerator cpu|gpu] [--replay-from RUN_DIR] [--split-by-correctness [--against-default]] [--train-batches N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter

import lightning_gradnap.callback.run_end as run_end
from example_asr.data import SyntheticSpeechData
from example_asr.module import SpeechRecognizer
from example_asr.phonetics.letters import phoneme_group_classes
from lightning_gradnap import GradNAPCallback
from lightning_gradnap.config import DEFAULT_VIEWS
from lightning_gradnap.summary.replay import replay, step_of

DEMO = dict(channels=128, num_layers=7, wide_channels=256, input_kernel=11, wide_kernel=7)  # configs/demo.yaml
FULL = dict(channels=250, num_layers=7, wide_channels=2000)


class BatchClock(L.Callback):
    """Stamps the start (first in the callback list) or the end (last) of each validation batch."""

    def __init__(self, times: list[float], end: bool) -> None:
        self.times, self.end = times, end

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.end and not trainer.sanity_checking:
            self.times.append(-now(pl_module.device))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self.end and not trainer.sanity_checking:
            self.times[-1] += now(pl_module.device)


HOOKS = (
    "setup",
    "on_train_start",
    "on_train_batch_end",
    "on_validation_epoch_start",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_validation_epoch_end",
    "on_validation_end",
    "on_fit_end",
    "teardown",
)


ONCE_PER_FIT = ("on_train_start", "on_fit_end")


def _timed(name: str):
    method = getattr(GradNAPCallback, name)

    def hook(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            self.seconds += seconds
            if name in ONCE_PER_FIT:
                self.once += seconds

    return hook


#: GradNAPCallback whose hooks add up their wall time in ``seconds``: with the figures drawn in the
#: foreground, everything the callback does except the profiled forward's extra cost (part 1).
#: ``once``: the part of it in the hooks that run once per fit: the untrained network's profiling and the replays.
TimedCallback = type(
    "TimedCallback", (GradNAPCallback,), {"seconds": 0.0, "once": 0.0, **{name: _timed(name) for name in HOOKS}}
)


def now(device: torch.device) -> float:
    """The clock, after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def run(
    model_args: dict,
    data: SyntheticSpeechData,
    with_callback: bool,
    batches: int,
    log_dir: str,
    train_batches,
    accelerator: str = "cpu",
    epochs: int = 1,
    **options,
):
    torch.manual_seed(0)
    model = SpeechRecognizer(**model_args, schedule="constant")
    times: list[float] = []
    callbacks = [BatchClock(times, end=False)]
    profiler = TimedCallback(**({"max_batches": batches} if batches else {}), **options) if with_callback else None
    callbacks += [profiler] if profiler else []
    callbacks.append(BatchClock(times, end=True))
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        limit_train_batches=train_batches,
        limit_val_batches=batches,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        logger=TensorBoardLogger(log_dir),
        callbacks=callbacks,
    )
    start, cpu, replays = time.perf_counter(), time.process_time(), len(REPLAYS)
    trainer.fit(model, data)
    hooks = profiler.seconds if profiler else 0.0
    ONCE.append(profiler.once if profiler else 0.0)
    return times, time.perf_counter() - start, time.process_time() - cpu, hooks, sum(REPLAYS[replays:])


ONCE: list[float] = []  # seconds of each fit's once-per-fit hooks (TimedCallback.once)


REPLAYS: list[float] = []  # seconds of each fit's replays at its end (heatmaps, and topomaps with --topomap)


def _timed(replay_function):
    def timed_replay(*args, **kwargs):
        report = replay_function(*args, **kwargs)
        REPLAYS.append(report.seconds)
        return report

    return timed_replay


for _name in ("replay_history", "replay_topomap_history"):
    setattr(run_end, _name, _timed(getattr(run_end, _name)))


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def time_replay(run_dir: Path, repeats: int) -> None:
    files = sorted((run_dir / "profiles").glob("*.npz"), key=step_of)
    times, images = [], 0
    with tempfile.TemporaryDirectory() as log_dir:
        for _ in range(repeats):
            with SummaryWriter(log_dir) as writer:
                report = replay(writer, files)
            times.append(report.seconds)
            images = report.images
    print(
        f"replay of {len(files)} profilings ({images} heatmaps) from {run_dir}: "
        f"median {statistics.median(times):.2f} s of {repeats} ({', '.join(f'{t:.2f}' for t in times)}); "
        f"{statistics.median(times) / max(images, 1) * 1000:.0f} ms per heatmap"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["demo", "full"], default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=6, help="profiled validation batches")
    parser.add_argument("--epoch", action="store_true", help="also time whole demo epochs (slow)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed fit in part 2")
    parser.add_argument("--foreground-figures", action="store_true", help="draw figures in the training thread")
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--replay-from", type=Path, help="only time the replay of this run's profile files")
    parser.add_argument("--topomap", action="store_true", help="the profiled fits also draw the topographic maps")
    parser.add_argument("--split-by-correctness", action="store_true", help="profile 'g correct' and 'g wrong'")
    parser.add_argument("--against-default", action="store_true", help="'without': the callback without the split")
    parser.add_argument("--train-batches", type=int, default=None, help="training batches per epoch in part 2")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.replay_from:
        time_replay(args.replay_from, args.repeats)
        return
    data = SyntheticSpeechData(root="data/synthetic", num_train=4000, batch_size=16)  # as configs/demo.yaml
    data.prepare_data()
    model_args = DEMO if args.model == "demo" else FULL
    split = (
        dict(split_by_correctness=True, group_classes=phoneme_group_classes(data.group_names))
        if args.split_by_correctness
        else {}
    )
    base = partial(run, model_args, data, accelerator=args.accelerator)

    def fit(with_callback: bool, *rest, **options):  # "without": no callback, or the callback without the split
        if args.against_default and not with_callback:
            return base(True, *rest, **options)
        return base(with_callback, *rest, **(split if with_callback else {}), **options)

    with tempfile.TemporaryDirectory() as log_dir:
        fit(True, 1, log_dir, 1)  # warm up
        plain, profiled = [], []
        # part 1 times the profiled batches alone: without the untrained network's profiling, whose figures
        # would be drawn in the thread while these batches run (part 2 has it, as a fit does)
        for _ in range(args.repeats):
            plain.append(fit(False, args.batches, log_dir, 1, profile_init=False)[0])
            profiled.append(fit(True, args.batches, log_dir, 1, profile_init=False)[0])
        epochs_plain, epochs_profiled, cpu_plain, cpu_profiled, accounted = [], [], [], [], []
        hook_seconds: tuple[list[float], list[float]] = ([], [])  # per epoch, of the runs without and with
        replayed: list[float] = []  # seconds of the profiled fits' replays
        steady, once = [], []  # the hooks' share without the once-per-fit hooks, and the seconds of those
        if args.epoch:
            for _ in range(args.repeats):
                options = {"background_figures": False} if args.foreground_figures and args.against_default else {}
                _, wall, cpu, hooks, _ = fit(False, None, log_dir, args.train_batches, epochs=args.epochs, **options)
                hook_seconds[0].append(hooks / args.epochs)
                epochs_plain.append(wall / args.epochs)
                cpu_plain.append(cpu / args.epochs)
                options = {"background_figures": False} if args.foreground_figures else {}
                options.update({"views": [*DEFAULT_VIEWS, "topomap"]} if args.topomap else {})
                _, wall, cpu, hooks, replay_seconds = fit(
                    True, None, log_dir, args.train_batches, epochs=args.epochs, **options
                )
                accounted.append(hooks / (wall - hooks))
                steady.append((hooks - ONCE[-1]) / (wall - hooks))
                once.append(ONCE[-1])
                hook_seconds[1].append(hooks / args.epochs)
                epochs_profiled.append(wall / args.epochs)
                cpu_profiled.append(cpu / args.epochs)
                replayed.append(replay_seconds)
    a, b = statistics.median(sum(t) for t in plain), statistics.median(sum(t) for t in profiled)
    # The first profiled batch of a run also finds the frame maps (once per run): shown apart.
    a1, b1 = statistics.median(sum(t[1:]) for t in plain), statistics.median(sum(t[1:]) for t in profiled)
    first = statistics.median(t[0] for t in profiled) - statistics.median(t[0] for t in plain)
    print(
        f"torch {torch.__version__}, {args.accelerator}, threads {torch.get_num_threads()}, "
        f"model {args.model} {model_args}{', split_by_correctness' if split else ''}"
        f"{' against the callback without it' if args.against_default else ''}"
    )
    print(f"{args.batches} validation batches of 16 utterances, median of {args.repeats} alternating runs")
    print(f"validation batches without callback: {a:.2f} s, with GradNAPCallback: {b:.2f} s")
    if epochs_plain:
        c, d = statistics.median(epochs_plain), statistics.median(epochs_profiled)
        print(
            f"whole demo epoch (fits of {args.epochs}) without callback: {c:.1f} s, with (default settings): {d:.1f} s"
        )
        print(f"ratio epoch with / without = {d / c:.3f}  (target <= 1.10)")
        print(f"  wall per epoch without: {_list(epochs_plain)}; with: {_list(epochs_profiled)}")
        e, f = statistics.median(cpu_plain), statistics.median(cpu_profiled)
        print(
            f"CPU time of the process per epoch without: {e:.1f} s, with: {f:.1f} s, ratio {f / e:.3f} "
            f"(less sensitive to other load on the machine)\n  without: {_list(cpu_plain)}; with: {_list(cpu_profiled)}"
        )
        pairs = [d_ / c_ for c_, d_ in zip(epochs_plain, epochs_profiled, strict=True)]
        print(
            f"  paired ratios (each pair back to back): {', '.join(f'{r:.3f}' for r in pairs)}; "
            f"median {statistics.median(pairs):.3f}"
        )
        where = (
            "all of its work, figures included"
            if args.foreground_figures
            else "figures not included: drawn in a thread"
        )
        print(
            f"time inside the callback's hooks ({where}) / the rest of the same fit: "
            f"{', '.join(f'{r:.3f}' for r in accounted)}; median {statistics.median(accounted):.3f}, i.e. ratio "
            f"{1 + statistics.median(accounted):.3f} without the profiled forward's extra cost (part 1)"
        )
        print(
            f"  of it, the hooks that run once per fit (the untrained network's profiling, the replays): "
            f"{_list(once)} s per fit; the rest, per epoch (the steady cost): "
            f"{', '.join(f'{r:.3f}' for r in steady)} of the fit's other time; median {statistics.median(steady):.3f}"
        )
        print(
            f"seconds inside the callback's hooks per epoch, without: {_list(hook_seconds[0])}; "
            f"with: {_list(hook_seconds[1])}"
        )
        replay_share = statistics.median(replayed) / args.epochs
        print(
            f"replay at the end of fit: median {statistics.median(replayed):.2f} s ({replay_share:.2f} s per epoch); "
            f"ratio without it = {(d - replay_share) / c:.3f}"
        )
    print(f"ratio profiled validation batches with / without = {b / a:.3f}  (target <= 2.2)")
    print(
        f"  without the first batch (which finds the frame maps, once per run: +{first:.2f} s): "
        f"{a1:.2f} s and {b1:.2f} s, ratio {b1 / a1:.3f}"
    )


if __name__ == "__main__":
    main()
