"""Peak resident memory while profiling 50 and 500 utterances: flat, since sums are streamed.

Each size runs in a fresh process (peak RSS only grows); the demo model profiles synthetic
utterances (features computed on the fly, not cached) with every layer and the feature view.
Batches are cut or padded to 3 s: otherwise the peak follows the longest utterance met, which
is longer among 500 than among 50, whatever the profiler keeps.
With ``--device cuda`` the peak CUDA memory (``torch.cuda.max_memory_allocated``) is measured
too. Target (issue 5): growth at most 5%.

    .venv/bin/python bench/bench_memory.py [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch


def child(utterances: int, device: torch.device) -> None:
    from torch.utils.data import DataLoader

    from example_asr.corpora.synthetic.corpus import SyntheticSpeechCorpus
    from example_asr.data import FeatureDataset, collate
    from example_asr.features import LogMelFrontend
    from example_asr.model import Wav2Letter
    from lightning_gradnap import ProfileBatch
    from lightning_gradnap.engine.engine import ProfileEngine

    torch.set_num_threads(2)
    corpus = SyntheticSpeechCorpus("data/synthetic", "train", 4000, seed=0, snr_db=(20.0, 40.0), progress=False)
    dataset = FeatureDataset(corpus, LogMelFrontend(40), corpus.inventory, cache=False)
    subset = torch.utils.data.Subset(dataset, range(utterances))
    model = Wav2Letter(40, 29, channels=128, wide_channels=256, input_kernel=11, wide_kernel=7).to(device).eval()
    engine = ProfileEngine(model.hidden_layer_names, len(corpus.inventory), input_window=31)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    frames = 300  # every batch cut to 3 s, so that the largest batch is the same in both runs
    for batch in DataLoader(subset, batch_size=16, collate_fn=collate):
        features = torch.nn.functional.pad(batch["features"], (0, frames))[..., :frames]
        labels = torch.nn.functional.pad(batch["phoneme_labels"], (0, frames), value=-1)[..., :frames]
        engine.run_batch(model, ProfileBatch(features, labels, batch["feature_lengths"].clamp(max=frames)))
    engine.result()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cuda_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    print(json.dumps({"utterances": utterances, "before_kib": start, "peak_kib": peak, "cuda_peak_bytes": cuda_peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.child:
        child(args.child, torch.device(args.device))
        return
    results = {}
    for utterances in (50, 500):
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(utterances), "--device", args.device],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[utterances] = json.loads(output.strip().splitlines()[-1])
        print(
            f"{utterances} utterances: peak RSS {results[utterances]['peak_kib'] / 1024:.0f} MiB "
            f"(after loading the corpus and model: {results[utterances]['before_kib'] / 1024:.0f} MiB)"
        )
        if results[utterances]["cuda_peak_bytes"] is not None:
            print(f"{utterances} utterances: peak CUDA memory {results[utterances]['cuda_peak_bytes'] / 2**20:.0f} MiB")
    if results[50]["cuda_peak_bytes"]:
        cuda_growth = results[500]["cuda_peak_bytes"] / results[50]["cuda_peak_bytes"]
        print(f"ratio peak CUDA memory 500 / 50 utterances = {cuda_growth:.3f}  (target <= 1.05)")
    growth = results[500]["peak_kib"] / results[50]["peak_kib"]
    print(f"ratio peak RSS 500 / 50 utterances = {growth:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
