"""Cost of masking the padding in training: steps with ``lengths`` given against ``lengths=None``.

The demo model (128/256 channels, input kernel 11, wide kernel 7, 7 layers), a training step
each: forward, CTC loss, backward, AdamW step. Batches of random 40-band features with random
lengths of 150-400 frames (like the synthetic corpus' 1.5-4 s utterances), padded to the longest.
The two kinds of step alternate (order flipped each repeat) on the same batches, each with its own
copy of the model and optimizer; the median of the paired ratios is printed last. Target: at
most 1.05.

    .venv/bin/python bench/bench_masking.py [--threads 2] [--repeats 15] [--batch 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics

import torch
import torch.nn.functional as F
from bench_engine import timed

from example_asr.model import Wav2Letter

DEMO = dict(channels=128, wide_channels=256, input_kernel=11, wide_kernel=7, num_layers=7)


def make_batches(count: int, batch_size: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(count):
        lengths = torch.randint(150, 401, (batch_size,), generator=generator)
        target_lengths = torch.randint(15, 40, (batch_size,), generator=generator)
        batch = {
            "features": torch.randn(batch_size, 40, int(lengths.max()), generator=generator),
            "lengths": lengths,
            "targets": torch.randint(1, 29, (batch_size, int(target_lengths.max())), generator=generator),
            "target_lengths": target_lengths,
        }
        batches.append({key: value.to(device) for key, value in batch.items()})
    return batches


def training_step(model: Wav2Letter, optimizer, batch: dict[str, torch.Tensor], masked: bool) -> None:
    logits = model(batch["features"], batch["lengths"] if masked else None)
    log_probs = logits.log_softmax(dim=1).permute(2, 0, 1)
    loss = F.ctc_loss(
        log_probs,
        batch["targets"],
        model.output_lengths(batch["lengths"]),
        batch["target_lengths"],
        zero_infinity=True,
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=4, help="training steps per timing")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(0)
    plain_model = Wav2Letter(40, 29, **DEMO).to(device).train()
    masked_model = copy.deepcopy(plain_model)
    runs = {
        masked: (model, torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2))
        for masked, model in ((False, plain_model), (True, masked_model))
    }
    batches = make_batches(args.steps, args.batch, device)

    def steps(masked: bool) -> None:
        model, optimizer = runs[masked]
        for batch in batches:
            training_step(model, optimizer, batch, masked)

    steps(False), steps(True)  # warm up
    times: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        for masked in order:
            times[masked].append(timed(functools.partial(steps, masked), device) / args.steps)
    plain, masked = statistics.median(times[False]), statistics.median(times[True])
    paired = statistics.median(m / p for m, p in zip(times[True], times[False], strict=True))
    frames = sum(int(b["lengths"].sum()) for b in batches) / sum(b["lengths"].numel() for b in batches)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"Wav2Letter demo 128/256, batch {args.batch}, mean {frames:.0f} frames, {args.steps} steps per timing")
    print(f"training step, lengths=None: median {plain * 1000:.0f} ms over {args.repeats}")
    print(f"training step, lengths:      median {masked * 1000:.0f} ms over {args.repeats}")
    print(f"ratio of medians masked / unmasked = {masked / plain:.3f}")
    print(f"median of paired ratios masked / unmasked = {paired:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
