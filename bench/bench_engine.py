"""Cost of `compute_profiles` against its floor: one hooked forward plus one `autograd.grad`.

torchaudio's full-size Wav2Letter (250/2000 channels), all 11 ReLU outputs hooked, batch of
8 x 800 frames, 40 groups. The two are timed alternately in the same run; the ratio of medians
is printed last. Target (issue 2): at most 1.10.

    .venv/bin/python bench/bench_engine.py [--threads 2] [--repeats 7] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchaudio.models import Wav2Letter

from lightning_gradnap import compute_profiles


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
    batch = [(x, labels)]

    def profile() -> None:
        compute_profiles(model, batch, layers, args.groups)

    def floor() -> None:
        floor_pass(model, x, layers)

    profile(), floor()  # warm up
    profile_times, floor_times = [], []
    for _ in range(args.repeats):
        profile_times.append(timed(profile, device))
        floor_times.append(timed(floor, device))
    p, f = statistics.median(profile_times), statistics.median(floor_times)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"Wav2Letter 250/2000, {len(layers)} ReLU layers, batch {args.batch} x {args.frames} frames, {args.groups} groups")
    print(f"hooked forward + autograd.grad (floor): median {f * 1000:.0f} ms over {args.repeats}")
    print(f"compute_profiles:                       median {p * 1000:.0f} ms over {args.repeats}")
    print(f"ratio compute_profiles / floor = {p / f:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
