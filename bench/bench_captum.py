"""Cost per profiled batch: plain forward (a), GradNAPCallback (b), Captum + grouping (c).

Same batches (random features, labels in runs of 8 frames like phonemes), same run, alternating.
(b) drives the callback's batch hooks around the module's validation step under
``torch.no_grad()``, as Lightning's validation loop does, at its default settings (a validation
epoch profiles 8 batches, the first 2 of which also feed the feature view). (c) computes the same
grouped gradient-times-activation profiles with Captum's ``LayerGradientXActivation`` over the
same layers (it re-runs the forward), then groups with the same sums.

Also timed: (f) the floor of any GradNAP, the validation step with its forward replaced by a
hooked forward with gradients plus one ``autograd.grad`` to the same layers (no grouping). f/a is
what the backward pass costs; b/f is what the profiler adds on top of it.

Targets (issue 5): b/a <= 2.2, b/c <= 0.9.

    .venv/bin/python bench/bench_captum.py [--model full|demo] [--repeats 11] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import warnings
from types import SimpleNamespace

import lightning as L
import torch
from bench_engine import floor_pass, timed
from captum.attr import LayerGradientXActivation
from torchaudio.models import Wav2Letter as TorchaudioWav2Letter

from example_asr.model import Wav2Letter
from lightning_gradnap import GradNAPCallback, ProfileBatch
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.folds import FoldBatch, split_halves

BATCHES = 8  # the callback's default max_batches: one profiled validation epoch


class Wrapped(L.LightningModule):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def validation_step(self, batch, batch_idx: int) -> None:
        self(batch["features"]).argmax(dim=1)  # the step's own work: a forward and a decision


def build(name: str, device: torch.device):
    torch.manual_seed(0)
    if name == "full":
        net = TorchaudioWav2Letter(num_classes=40, input_type="mfcc", num_features=40)
        layers = [f"net.{n}" for n, m in net.named_modules() if isinstance(m, torch.nn.ReLU)]
        shape, groups = (8, 40, 800), 40
    else:
        net = Wav2Letter(40, 29, channels=128, wide_channels=256, input_kernel=11, wide_kernel=7)
        layers = [f"net.{n}" for n in net.hidden_layer_names]
        shape, groups = (16, 40, 300), 39
    module = Wrapped(net).to(device).eval()
    generator = torch.Generator().manual_seed(1)
    batches = [
        {
            "features": torch.randn(*shape, generator=generator),
            # phoneme-like runs of 8 frames (a segment per frame would inflate the feature view)
            "labels": torch.randint(-1, groups, (shape[0], -(-shape[2] // 8)), generator=generator).repeat_interleave(
                8, 1
            )[:, : shape[2]],
            "feature_lengths": torch.full(shape[:1], shape[2]),
        }
        for _ in range(BATCHES)
    ]
    batches = [{key: value.to(device) for key, value in batch.items()} for batch in batches]
    return module, layers, groups, batches


def plain(module, batches) -> None:
    with torch.no_grad():
        for i, batch in enumerate(batches):
            module.validation_step(batch, i)


def floor(module, layers, batches) -> None:
    for batch in batches:
        floor_pass(module, batch["features"], layers).argmax(dim=1)  # forward, gradients, decision


def set_up_callback(module, layers, groups):
    """A callback after ``setup`` (once per ``fit``), with a stand-in trainer."""
    trainer = SimpleNamespace(
        datamodule=None,
        loggers=[],
        is_global_zero=True,
        sanity_checking=False,
        current_epoch=0,
        log_dir=None,
        default_root_dir=tempfile.gettempdir(),
        state=SimpleNamespace(fn="fit"),
        limit_val_batches=1.0,
        max_epochs=1,
        check_val_every_n_epoch=1,
        val_check_interval=1.0,
    )
    callback = GradNAPCallback(layers=layers, labels="labels", group_names=[str(g) for g in range(groups)])
    callback.setup(trainer, module, "fit")  # type: ignore[arg-type]
    return trainer, callback


def with_callback(trainer, callback, module, batches) -> None:
    """One validation epoch over ``batches`` with the callback's hooks, as Lightning's loop runs them."""
    callback.on_validation_epoch_start(trainer, module)
    with torch.no_grad():
        for i, batch in enumerate(batches):
            callback.on_validation_batch_start(trainer, module, batch, i)
            module.validation_step(batch, i)
            callback.on_validation_batch_end(trainer, module, None, batch, i)


def grouping_engine(module, layers, groups, batches) -> ProfileEngine:
    """An engine only for its grouping of [B, C, T] relevance, with its frame maps found once."""
    engine = ProfileEngine(layers, groups)
    batch = batches[0]
    engine.prepare(module, ProfileBatch(batch["features"], batch["labels"], batch["feature_lengths"]))
    return engine


def with_captum(module, layers, engine, batches) -> None:
    modules = dict(module.named_modules())
    attribution = LayerGradientXActivation(
        lambda x: module(x).max(dim=1).values.sum(dim=-1), [modules[n] for n in layers]
    )
    engine.reset()
    for i, batch in enumerate(batches):
        with torch.no_grad():
            module.validation_step(batch, i)  # validation itself, as in (a) and (b)
        relevance = attribution.attribute(batch["features"])
        lengths = batch["feature_lengths"]
        halves = split_halves(batch["features"], lengths, engine.input_time_axis)
        fold_batch = FoldBatch.make(batch["labels"], lengths, True, engine.frame_maps, relevance[0].device, halves)
        engine.accumulated.add(
            engine.fold.batch_sums(dict(zip(layers, relevance, strict=True)), fold_batch, engine.sums)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["full", "demo"], default="demo")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    module, layers, groups, batches = build(args.model, device)
    trainer, callback = set_up_callback(module, layers, groups)
    engine = grouping_engine(module, layers, groups, batches)
    runs = {
        "a": lambda: plain(module, batches),
        "f": lambda: floor(module, layers, batches),
        "b": lambda: with_callback(trainer, callback, module, batches),
        "c": lambda: with_captum(module, layers, engine, batches),
    }
    for run in runs.values():
        run()  # warm up
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, run in runs.items():
            times[key].append(timed(run, device))
    a, f, b, c = (statistics.median(times[key]) for key in "afbc")
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"model {args.model}, {len(layers)} layers, "
        f"{BATCHES} batches of {tuple(batches[0]['features'].shape)}, {groups} groups, median of {args.repeats}"
    )
    print(f"(a) plain validation forward:            {a:.2f} s")
    print(f"(b) with GradNAPCallback:                {b:.2f} s")
    print(f"(c) Captum LayerGradientXActivation + grouping: {c:.2f} s")
    print(f"(f) floor: hooked forward + autograd.grad:   {f:.2f} s")
    print(f"ratio f/a = {f / a:.3f}  (the backward pass any GradNAP needs)")
    print(f"ratio b/f = {b / f:.3f}  (what the profiler adds to it)")
    print(f"ratio b/a = {b / a:.3f}  (target <= 2.2)")
    print(f"ratio b/c = {b / c:.3f}  (target <= 0.9)")


if __name__ == "__main__":
    main()
