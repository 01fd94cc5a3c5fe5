"""Extra cost of the faithfulness check per profiling: one profiling without it against the same with it.

The demo model (128/256 channels, input kernel 11, wide kernel 7, 7 layers, its 10 hidden blocks
profiled), GradNAP and NAP from one pass, 39 groups at frame level, batches of random 40-band
features of 150-400 frames (the synthetic corpus' 1.5-4 s utterances). One profiling is what the
callback does at a validation's end, without the views: ``--batches`` profiled batches (a hooked
forward and one ``autograd.grad`` each), then ``profile_state`` (profiles, clustering, scores with
their chance levels). With the check it also selects each checked layer's neurons and forwards the
first ``--check-batches`` batches again: once clean, once per selection (GradNAP, NAP, random) and
layer. The two alternate (order flipped each repeat) on the same model and batches; the median of the
paired ratios (with / without) is printed last.

    .venv/bin/python bench/bench_faithfulness.py [--threads 2] [--repeats 5] [--batches 6] [--check-batches 2]
        [--k 8] [--layers all|few]
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch
from bench_engine import timed

from example_asr.model import Wav2Letter
from lightning_gradnap.analysis.profiling import profile_state
from lightning_gradnap.config import AnalysisOptions
from lightning_gradnap.engine.engine import ProfileEngine
from lightning_gradnap.engine.faithfulness import layer_selections, measure_drops
from lightning_gradnap.profiles.from_state import profiles_of_method
from lightning_gradnap.profiles.groups import Groups
from lightning_gradnap.recording.batch import ProfileBatch
from lightning_gradnap.recording.hooks import resolve_layers

DEMO = dict(channels=128, wide_channels=256, input_kernel=11, wide_kernel=7, num_layers=7)
GROUPS = 39
FEW = ["input_conv", "conv4", "dense"]


def make_batches(count: int, batch_size: int) -> list[ProfileBatch]:
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(count):
        lengths = torch.randint(150, 401, (batch_size,), generator=generator)
        frames = int(lengths.max())
        labels = torch.randint(0, GROUPS, (batch_size, frames // 8), generator=generator).repeat_interleave(8, 1)
        labels = torch.nn.functional.pad(labels, (0, frames - labels.shape[1]), value=-1)
        features = torch.randn(batch_size, 40, frames, generator=generator)
        batches.append(ProfileBatch(inputs=(features, lengths), labels=labels, lengths=lengths))
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=6, help="profiled batches (the demo's max_batches)")
    parser.add_argument("--check-batches", type=int, default=2, help="faithfulness_batches")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--layers", choices=["all", "few"], default="all")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # low reliability of random data, absent groups

    torch.manual_seed(0)
    model = Wav2Letter(40, GROUPS + 1, **DEMO).eval()
    layers = [f"{name}" for name in model.hidden_layer_names]
    checked = layers if args.layers == "all" else FEW
    engine = ProfileEngine(layers, GROUPS, method=["gradnap", "nap"], channels_last=False)
    recorder = engine.recorder(model)
    modules = resolve_layers(model, checked)
    batches = make_batches(args.batches, args.batch)
    groups = Groups([str(g) for g in range(GROUPS)])
    options = AnalysisOptions()

    def profiling(check: bool) -> None:
        engine.reset()
        for batch in batches:
            engine.run_batch(model, batch, recorder=recorder)
        state = engine.state()
        if check:
            selections = {}
            for index, name in enumerate(checked):
                profiles = {m: profiles_of_method(state, engine.contents, m)[name].profile for m in engine.methods}
                selections[name] = layer_selections(profiles, args.k, index)
            for batch in batches[: args.check_batches]:
                measure_drops(engine, model, modules, batch, selections)
        profile_state(engine.contents, state, groups, options)

    profiling(True)  # warm up (and the probe, once)
    ratios, plain_times, checked_times = [], [], []
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        times = {check: timed(lambda check=check: profiling(check), torch.device("cpu")) for check in order}
        plain_times.append(times[False])
        checked_times.append(times[True])
        ratios.append(times[True] / times[False])
        print(f"repeat {repeat}: without {times[False]:.2f} s, with {times[True]:.2f} s, ratio {ratios[-1]:.3f}")
    forwards = args.check_batches * (1 + 3 * len(checked))
    print(
        f"{len(checked)} layers checked, k={args.k}, {forwards} extra forwards per profiling of "
        f"{args.batches} batches: "
        f"without {statistics.median(plain_times):.2f} s, with {statistics.median(checked_times):.2f} s (medians)"
    )
    print(f"with / without (median of paired ratios): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
