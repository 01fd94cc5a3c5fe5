"""Cost of profiling a batch against its floor: one hooked forward plus one `autograd.grad`.

torchaudio's full-size Wav2Letter (250/2000 channels), all 11 ReLU outputs hooked, batch of
8 x 800 frames, 40 groups. The engine is made once and finds its frame maps once, at its first
batch (timed apart, as "probe"); then a profiled batch (`run_batch` + `result`), the same with
GradNAP and NAP from one pass, and the floor are timed alternately in the same run. Ratios of
medians are printed last. Targets: profile / floor at most 1.10 (issue 2); both methods /
GradNAP alone is the cost of the NAP beside it (issue 14).

    .venv/bin/python bench/bench_engine.py [--threads 2] [--repeats 7] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchaudio.models import Wav2Letter

from lightning_gradnap import ProfileBatch, ProfileEngine


def floor_pass(model, x, layers) -> torch.Tensor:
    """The least any GradNAP needs: a hooked forward and the gradients to the hooked outputs."""
    outputs = []
    modules = dict(model.named_modules())
    handles = [modules[name].register_forward_hook(lambda m, i, o: outputs.append(o)) for name in layers]
    try:
        with torch.enable_grad():
            scores = model(x.detach().requires_grad_())
            torch.autograd.grad(scores.max(dim=1).values.sum(), outputs)
    finally:
        for handle in handles:
            handle.remove()
    return scores.detach()


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=800)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    model = Wav2Letter(num_classes=40, input_type="mfcc", num_features=40).to(device).eval()
    layers = [name for name, module in model.named_modules() if isinstance(module, torch.nn.ReLU)]
    assert len(layers) == 11, layers
    x = torch.randn(args.batch, 40, args.frames, device=device)
    labels = torch.randint(-1, args.groups, (args.batch, args.frames), device=device)
    engines = {m: ProfileEngine(layers, args.groups, method=m) for m in ("gradnap", ("gradnap", "nap"))}
    recorders = {m: engine.recorder(model) for m, engine in engines.items()}
    probe = {
        m: timed(lambda m=m: engines[m].prepare(model, ProfileBatch(x, labels), recorders[m].modules), device)
        for m in engines
    }

    def profiler(method):
        def profile() -> None:
            engines[method].reset()
            engines[method].run_batch(model, (x, labels), recorder=recorders[method])
            engines[method].result()

        return profile

    def floor() -> None:
        floor_pass(model, x, layers)

    runs = {"profile": profiler("gradnap"), "both": profiler(("gradnap", "nap")), "floor": floor}
    for run in runs.values():
        run()  # warm up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(timed(run, device))
    p, b, f = (statistics.median(times[name]) for name in ("profile", "both", "floor"))
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(
        f"Wav2Letter 250/2000, {len(layers)} ReLU layers, batch {args.batch} x {args.frames} frames, "
        f"{args.groups} groups"
    )
    print(f"hooked forward + autograd.grad (floor): median {f * 1000:.0f} ms over {args.repeats}")
    print(f"probe of the frame maps (once per engine): {probe['gradnap'] * 1000:.0f} ms")
    print(f"profiled batch, GradNAP:                median {p * 1000:.0f} ms over {args.repeats}")
    print(f"profiled batch, GradNAP and NAP:        median {b * 1000:.0f} ms over {args.repeats}")
    print(f"ratio both methods / GradNAP alone = {b / p:.3f}")
    print(f"ratio profile / floor = {p / f:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
