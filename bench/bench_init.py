"""What the untrained-network profiling costs (issue 24): once per fit, before the first training step.

Fits the demo model (configs/demo.yaml's sizes and ``max_batches``) on the synthetic corpus for a few
training batches, with ``profile_init`` on and off, side by side in one run (runs alternate), and
reports, as medians:

- the time of ``on_train_start`` (the init profiling: its forwards, the analysis, the file; its
  figures are drawn in the figure thread while training goes on);
- one profiled validation epoch of the same fit, for scale;
- the ratio of the init profiling to the demo's whole fit (10 epochs of 250 steps, estimated from the
  training steps timed here).

    .venv/bin/python bench/bench_init.py [--root data/synthetic] [--repeats 3] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from example_asr.data import SyntheticSpeechData
from example_asr.module import SpeechRecognizer
from lightning_gradnap import GradNAPCallback

DEMO = dict(channels=128, num_layers=7, wide_channels=256, input_kernel=11, wide_kernel=7)  # configs/demo.yaml


class Clock(L.Callback):
    """Times ``on_train_start`` (placed first and last in the callback list), training batches and validation."""

    def __init__(self, last: bool) -> None:
        self.last, self.stamps, self.batches, self.validation = last, {}, [], []

    def on_train_start(self, trainer, pl_module) -> None:
        self.stamps["train_start_" + ("end" if self.last else "begin")] = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches.append(time.perf_counter() - self._batch)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._validation = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self.validation.append(time.perf_counter() - self._validation)


def one_fit(root: str, steps: int, profile_init: bool) -> dict[str, float]:
    torch.manual_seed(0)
    data = SyntheticSpeechData(root=root, num_train=4000, num_validation=200, num_test=200, batch_size=16)
    model = SpeechRecognizer(n_features=40, batch_norm=True, **DEMO)
    first, last = Clock(False), Clock(True)
    callback = GradNAPCallback(
        inputs=["features", "feature_lengths"], labels="phoneme_labels", max_batches=6, profile_init=profile_init
    )
    with tempfile.TemporaryDirectory() as folder:
        trainer = L.Trainer(
            accelerator="cpu",
            max_epochs=1,
            limit_train_batches=steps,
            num_sanity_val_steps=0,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            logger=TensorBoardLogger(folder, name="tb"),
            callbacks=[first, callback, last],
        )
        trainer.fit(model, data)
    return {
        "init": last.stamps["train_start_end"] - first.stamps["train_start_begin"],
        "step": statistics.median(first.batches[2:]),
        "validation": first.validation[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data/synthetic")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(args.repeats):
        for profile_init in (True, False):
            runs[profile_init].append(one_fit(args.root, args.steps, profile_init))

    def median(on: bool, key: str) -> float:
        return statistics.median(run[key] for run in runs[on])

    init, without = median(True, "init"), median(False, "init")
    fit = 10 * 250 * median(True, "step") + 10 * median(True, "validation")
    print(f"on_train_start with the init profiling: {init:.2f} s, without: {without:.3f} s")
    print(
        f"a profiled validation epoch: {median(True, 'validation'):.2f} s; a training step {median(True, 'step'):.3f} s"
    )
    print(f"init profiling / profiled validation epoch: {(init - without) / median(True, 'validation'):.2f}")
    print(f"init profiling / the demo's fit (estimated {fit / 60:.1f} min): {(init - without) / fit:.4f}")


if __name__ == "__main__":
    main()
